// Expert capacity: drop and pad policies over one micro-batch's gate output (see capacity.hpp).
#include "moe/capacity.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "moe/moe_layer.hpp"

namespace moesim {

std::int64_t expert_capacity(double factor, std::int64_t tokens, int top_k, int experts) {
  const double c = factor * static_cast<double>(tokens * top_k) / static_cast<double>(experts);
  return static_cast<std::int64_t>(std::ceil(c));
}

CapacityLimiter::CapacityLimiter(double factor, CapacityPolicy policy, int experts, int top_k)
    : factor_(factor), policy_(policy), experts_(experts), top_k_(top_k) {
  if (!(factor >= 0.0)) throw InputError(fmt::format("gate: capacity_factor must be >= 0, got {}", factor));
  if (experts < 1 || top_k < 1)
    throw InputError(fmt::format("capacity: experts ({}) and top_k ({}) must be >= 1", experts, top_k));
}

void CapacityLimiter::apply(std::vector<std::vector<int>>& picks_by_src, CapacityTally& out) {
  const auto e_count = static_cast<std::size_t>(experts_);
  const auto k = static_cast<std::size_t>(top_k_);
  out.routed.assign(e_count, 0);
  out.pad_slots.clear();
  out.capacity = 0;
  std::int64_t tokens = 0;
  for (auto& picks : picks_by_src) {
    tokens += static_cast<std::int64_t>(picks.size() / k);
    for (int e : picks)
      if (static_cast<unsigned>(e) < static_cast<unsigned>(experts_)) ++out.routed[static_cast<std::size_t>(e)];
  }
  if (!on()) {
    out.kept = out.routed;
    return;
  }
  out.kept.assign(e_count, 0);
  // Keeps picks[i] if its expert has room left under `cap`, else drops it.
  const auto take = [&](std::vector<int>& picks, std::size_t i, std::int64_t cap) {
    const int e = picks[i];
    if (static_cast<unsigned>(e) >= static_cast<unsigned>(experts_)) return;  // the planner reports bad ids
    if (count_[static_cast<std::size_t>(e)] < cap) {
      ++count_[static_cast<std::size_t>(e)];
      ++out.kept[static_cast<std::size_t>(e)];
    } else {
      picks[i] = kDroppedPick;
    }
  };
  count_.assign(e_count, 0);
  switch (policy_) {
    case CapacityPolicy::drop_by_position: {
      out.capacity = expert_capacity(factor_, tokens, top_k_, experts_);
      for (auto& picks : picks_by_src)
        for (std::size_t i = 0; i < picks.size(); ++i) take(picks, i, out.capacity);
      break;
    }
    case CapacityPolicy::drop_by_score: {
      out.capacity = expert_capacity(factor_, tokens, top_k_, experts_);
      for (std::size_t j = 0; j < k; ++j)  // every token's best pick before anyone's second
        for (auto& picks : picks_by_src)
          for (std::size_t i = j; i < picks.size(); i += k) take(picks, i, out.capacity);
      break;
    }
    case CapacityPolicy::pad: {
      for (auto& picks : picks_by_src) {
        const auto local_tokens = static_cast<std::int64_t>(picks.size() / k);
        const std::int64_t cap = local_tokens > 0 ? expert_capacity(factor_, local_tokens, top_k_, experts_) : 0;
        out.pad_slots.push_back(cap);
        std::fill(count_.begin(), count_.end(), 0);  // each source has its own buffers
        for (std::size_t j = 0; j < k; ++j)
          for (std::size_t i = j; i < picks.size(); i += k) take(picks, i, cap);
      }
      break;
    }
  }
}

}  // namespace moesim
