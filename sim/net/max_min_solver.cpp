// Max-min fairness by progressive filling: repeatedly the resource with the smallest fair share
// (remaining capacity / unfixed users) fixes its users at that share. The smallest share comes
// from a heap of lower bounds, refreshed only when popped (never on every flow update).
#include "net/max_min_solver.hpp"

#include <algorithm>
#include <functional>
#include <limits>

namespace moesim {

void MaxMinSolver::solve(std::span<const double> capacity, std::span<const std::uint32_t> offsets,
                         std::span<const std::int32_t> resources, std::vector<double>& rates) {
  const std::size_t n_res = capacity.size();
  const std::size_t n_var = offsets.empty() ? 0 : offsets.size() - 1;
  rates.assign(n_var, 0.0);
  if (n_var == 0) return;

  remaining_.assign(capacity.begin(), capacity.end());
  unfixed_.assign(n_res, 0);
  fixed_.assign(n_var, 0);
  for (std::size_t v = 0; v < n_var; ++v)
    for (std::uint32_t i = offsets[v]; i < offsets[v + 1]; ++i) ++unfixed_[static_cast<std::size_t>(resources[i])];

  // Resource -> variables index (CSR), and the list of resources in use.
  by_res_offsets_.assign(n_res + 1, 0);
  active_.clear();
  for (std::size_t r = 0; r < n_res; ++r) {
    by_res_offsets_[r + 1] = by_res_offsets_[r] + static_cast<std::uint32_t>(unfixed_[r]);
    if (unfixed_[r] > 0) active_.push_back(static_cast<std::int32_t>(r));
  }
  by_res_vars_.resize(by_res_offsets_[n_res]);
  cursor_.assign(by_res_offsets_.begin(), by_res_offsets_.end() - 1);
  for (std::size_t v = 0; v < n_var; ++v)
    for (std::uint32_t i = offsets[v]; i < offsets[v + 1]; ++i)
      by_res_vars_[cursor_[static_cast<std::size_t>(resources[i])]++] = static_cast<std::int32_t>(v);

  // Progressive filling: fix the users of the resource with the smallest fair share, repeat.
  // Fixing users at the smallest share s never lowers another resource's share ((rem - s) /
  // (n - 1) >= rem / n when rem / n >= s), so a heap entry's key is a lower bound of its
  // resource's share: pop, and if the share has grown since, push it back with its new value.
  heap_.clear();
  for (std::int32_t r : active_) {
    const auto ri = static_cast<std::size_t>(r);
    heap_.push_back(Entry{remaining_[ri] / unfixed_[ri], r});
  }
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>{});
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>{});
    const Entry top = heap_.back();
    heap_.pop_back();
    const auto r = static_cast<std::size_t>(top.resource);
    if (unfixed_[r] == 0) continue;
    const double current = remaining_[r] / unfixed_[r];
    if (current > top.share) {
      heap_.push_back(Entry{current, top.resource});
      std::push_heap(heap_.begin(), heap_.end(), std::greater<>{});
      continue;
    }
    const double share = std::max(0.0, current);
    for (std::uint32_t i = by_res_offsets_[r]; i < by_res_offsets_[r + 1]; ++i) {
      const auto v = static_cast<std::size_t>(by_res_vars_[i]);
      if (fixed_[v]) continue;
      fixed_[v] = 1;
      rates[v] = share;
      for (std::uint32_t j = offsets[v]; j < offsets[v + 1]; ++j) {
        const auto q = static_cast<std::size_t>(resources[j]);
        remaining_[q] = std::max(0.0, remaining_[q] - share);
        --unfixed_[q];
      }
    }
  }
}

}  // namespace moesim
