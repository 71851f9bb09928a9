// Group-limited routing: the setting's checks and the trace remap rule (see group_routing.hpp).
#include "moe/group_routing.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.hpp"

namespace moesim {

void check_group_limit(const GateSpec& spec, int experts, int top_k, std::string_view where) {
  if (spec.groups == 0) return;
  if (spec.groups < 0 || experts % spec.groups != 0)
    throw InputError(
        fmt::format("{}: gate.groups = {} must divide the model's {} routed experts", where, spec.groups, experts));
  if (spec.groups_per_token < 1 || spec.groups_per_token > spec.groups)
    throw InputError(fmt::format("{}: gate.groups_per_token = {} must be in [1, gate.groups = {}]", where,
                                 spec.groups_per_token, spec.groups));
  const int reachable = spec.groups_per_token * (experts / spec.groups);
  if (reachable < top_k)
    throw InputError(
        fmt::format("{}: gate.groups_per_token = {} groups of {} experts hold {} experts, fewer than "
                    "top_k = {}",
                    where, spec.groups_per_token, experts / spec.groups, reachable, top_k));
}

int limit_token_groups(int* picks, int top_k, int group_size, int groups_per_token, std::vector<int>& scratch) {
  // scratch: [0, top_k) distinct groups in order of first pick, [top_k, 2 top_k) their pick counts.
  const auto k = static_cast<std::size_t>(top_k);
  scratch.assign(2 * k, 0);
  int distinct = 0;
  for (int j = 0; j < top_k; ++j) {
    const int g = picks[j] / group_size;
    int i = 0;
    while (i < distinct && scratch[static_cast<std::size_t>(i)] != g) ++i;
    if (i == distinct) scratch[static_cast<std::size_t>(distinct++)] = g;
    ++scratch[k + static_cast<std::size_t>(i)];
  }
  if (distinct <= groups_per_token) return 0;
  // Most picks first; a stable sort keeps first-pick order among ties.
  std::vector<int> order(static_cast<std::size_t>(distinct));
  for (int i = 0; i < distinct; ++i) order[static_cast<std::size_t>(i)] = i;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return scratch[k + static_cast<std::size_t>(a)] > scratch[k + static_cast<std::size_t>(b)];
  });
  std::vector<int> kept;
  for (int i = 0; i < groups_per_token; ++i)
    kept.push_back(scratch[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])]);
  std::sort(kept.begin(), kept.end());  // lowest ids first
  const auto is_kept = [&](int e) { return std::find(kept.begin(), kept.end(), e / group_size) != kept.end(); };
  const auto taken = [&](int e) { return std::find(picks, picks + top_k, e) != picks + top_k; };
  int changed = 0;
  std::size_t next_group = 0;
  int next = kept[0] * group_size;  // candidate replacement, ascending over the kept groups
  for (int j = 0; j < top_k; ++j) {
    if (is_kept(picks[j])) continue;
    for (;;) {  // the limit's check guarantees enough free experts in the kept groups
      if (next == (kept[next_group] + 1) * group_size) {
        if (++next_group == kept.size())
          throw Error(fmt::format("group limit: {} groups of {} experts cannot hold {} picks", groups_per_token,
                                  group_size, top_k));
        next = kept[next_group] * group_size;
      }
      if (!taken(next)) break;
      ++next;
    }
    picks[j] = next++;
    ++changed;
  }
  return changed;
}

}  // namespace moesim
