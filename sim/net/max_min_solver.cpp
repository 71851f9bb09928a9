// Max-min fairness by progressive filling with a lazy min-heap over resources' fair shares.
// A resource's share (remaining capacity / unfixed users) never decreases while filling, so stale
// heap entries are smaller than current ones and can be recognised by a version stamp.
#include "net/max_min_solver.hpp"

#include <algorithm>
#include <functional>

namespace moesim {

void MaxMinSolver::solve(std::span<const double> capacity, std::span<const std::uint32_t> offsets,
                         std::span<const std::int32_t> resources, std::vector<double>& rates) {
  const std::size_t n_res = capacity.size();
  const std::size_t n_var = offsets.empty() ? 0 : offsets.size() - 1;
  rates.assign(n_var, 0.0);
  if (n_var == 0) return;

  remaining_.assign(capacity.begin(), capacity.end());
  unfixed_.assign(n_res, 0);
  version_.assign(n_res, 0);
  fixed_.assign(n_var, 0);
  for (std::size_t v = 0; v < n_var; ++v)
    for (std::uint32_t i = offsets[v]; i < offsets[v + 1]; ++i) ++unfixed_[static_cast<std::size_t>(resources[i])];

  // Resource -> variables index (CSR).
  by_res_offsets_.assign(n_res + 1, 0);
  for (std::size_t r = 0; r < n_res; ++r) by_res_offsets_[r + 1] = by_res_offsets_[r] + static_cast<std::uint32_t>(unfixed_[r]);
  by_res_vars_.resize(by_res_offsets_[n_res]);
  {
    std::vector<std::uint32_t>& fill = version_;  // reuse as cursor, reset below
    for (std::size_t r = 0; r < n_res; ++r) fill[r] = by_res_offsets_[r];
    for (std::size_t v = 0; v < n_var; ++v)
      for (std::uint32_t i = offsets[v]; i < offsets[v + 1]; ++i)
        by_res_vars_[fill[static_cast<std::size_t>(resources[i])]++] = static_cast<std::int32_t>(v);
    std::fill(version_.begin(), version_.end(), 0u);
  }

  using Entry = std::pair<double, std::int64_t>;
  const auto later = std::greater<Entry>();
  heap_.clear();
  for (std::size_t r = 0; r < n_res; ++r)
    if (unfixed_[r] > 0) heap_.emplace_back(remaining_[r] / unfixed_[r], static_cast<std::int64_t>(r));
  std::make_heap(heap_.begin(), heap_.end(), later);

  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    const Entry top = heap_.back();
    heap_.pop_back();
    const auto r = static_cast<std::size_t>(top.second & 0xffffffff);
    const auto ver = static_cast<std::uint32_t>(top.second >> 32);
    if (ver != version_[r] || unfixed_[r] == 0) continue;  // stale or finished
    const double share = std::max(0.0, top.first);
    // Fix every unfixed user of the bottleneck resource at the fair share.
    for (std::uint32_t i = by_res_offsets_[r]; i < by_res_offsets_[r + 1]; ++i) {
      const auto v = static_cast<std::size_t>(by_res_vars_[i]);
      if (fixed_[v]) continue;
      fixed_[v] = 1;
      rates[v] = share;
      for (std::uint32_t j = offsets[v]; j < offsets[v + 1]; ++j) {
        const auto q = static_cast<std::size_t>(resources[j]);
        remaining_[q] = std::max(0.0, remaining_[q] - share);
        --unfixed_[q];
        ++version_[q];
        if (q != r && unfixed_[q] > 0)
          heap_.emplace_back(remaining_[q] / unfixed_[q],
                             static_cast<std::int64_t>(q) | (static_cast<std::int64_t>(version_[q]) << 32));
        if (q != r && unfixed_[q] > 0) std::push_heap(heap_.begin(), heap_.end(), later);
      }
    }
  }
}

}  // namespace moesim
