// Max-min fairness by progressive filling. Each round finds the resource with the smallest fair
// share (remaining capacity / unfixed users) by a linear scan over the resources still in use and
// fixes its users at that share. Networks have far fewer links than flows, so scanning the
// resources (cache-friendly, no heap) beats a priority queue keyed per flow update.
#include "net/max_min_solver.hpp"

#include <algorithm>
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

  while (!active_.empty()) {
    // The bottleneck: smallest fair share among resources that still have unfixed users.
    std::size_t best = 0;
    double best_share = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < active_.size(); ++i) {
      const auto r = static_cast<std::size_t>(active_[i]);
      const double share = remaining_[r] / unfixed_[r];
      if (share < best_share) {
        best_share = share;
        best = i;
      }
    }
    const auto r = static_cast<std::size_t>(active_[best]);
    const double share = std::max(0.0, best_share);
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
    // Drop resources with no unfixed users left (the bottleneck among them).
    std::size_t keep = 0;
    for (std::size_t i = 0; i < active_.size(); ++i)
      if (unfixed_[static_cast<std::size_t>(active_[i])] > 0) active_[keep++] = active_[i];
    active_.resize(keep);
  }
}

}  // namespace moesim
