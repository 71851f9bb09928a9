// Max-min fairness by progressive filling: repeatedly the resource with the smallest fair share
// (remaining capacity / unfixed users) fixes its users at that share. The smallest share comes
// from a heap of lower bounds, refreshed only when popped (never on every variable update).
#include "net/max_min_solver.hpp"

#include <algorithm>
#include <functional>
#include <limits>

#include "core/error.hpp"
#include "core/min_heap.hpp"

namespace moesim {

MaxMinSolver::MaxMinSolver(std::vector<double> capacity)
    : capacity_(std::move(capacity)),
      members_(capacity_.size()),
      in_use_pos_(capacity_.size(), 0),
      remaining_(capacity_),
      unfixed_(capacity_.size(), 0) {}

void MaxMinSolver::restride(std::size_t stride) {
  const std::size_t old_width = kRes + stride_, width = kRes + stride;
  std::vector<std::int32_t> rec(vars_ * width);
  std::vector<std::uint32_t> pos(vars_ * stride);
  for (std::size_t v = 0; v < vars_; ++v) {
    std::copy_n(rec_.begin() + static_cast<std::ptrdiff_t>(v * old_width), old_width,
                rec.begin() + static_cast<std::ptrdiff_t>(v * width));
    std::copy_n(pos_.begin() + static_cast<std::ptrdiff_t>(v * stride_), stride_,
                pos.begin() + static_cast<std::ptrdiff_t>(v * stride));
  }
  rec_.swap(rec);
  pos_.swap(pos);
  stride_ = stride;
}

std::uint32_t MaxMinSolver::add(std::span<const std::int32_t> resources) {
  for (std::int32_t r : resources)
    if (r < 0 || static_cast<std::size_t>(r) >= capacity_.size()) throw Error("max-min solver: resource id out of range");
  if (resources.size() > stride_) restride(std::max(resources.size(), 2 * stride_));
  std::uint32_t var;
  if (!free_.empty()) {
    var = free_.back();
    free_.pop_back();
  } else {
    var = static_cast<std::uint32_t>(vars_++);
    rec_.resize(rec_.size() + kRes + stride_);
    pos_.resize(pos_.size() + stride_);
  }
  std::int32_t* const v = record(var);
  std::uint32_t* const pos = pos_.data() + static_cast<std::size_t>(var) * stride_;
  v[kStamp] = gen_ - 1;  // not fixed by the current solve
  v[kLen] = static_cast<std::int32_t>(resources.size());
  for (std::size_t k = 0; k < resources.size(); ++k) {
    const auto r = static_cast<std::size_t>(resources[k]);
    std::vector<Member>& m = members_[r];
    if (m.empty()) {
      in_use_pos_[r] = static_cast<std::uint32_t>(in_use_.size());
      in_use_.push_back(resources[k]);
    }
    v[kRes + k] = resources[k];
    pos[k] = static_cast<std::uint32_t>(m.size());
    m.push_back(Member{var, static_cast<std::uint32_t>(k)});
  }
  ++live_;
  return var;
}

void MaxMinSolver::remove(std::uint32_t var) {
  std::int32_t* const v = record(var);
  const std::uint32_t* const pos = pos_.data() + static_cast<std::size_t>(var) * stride_;
  for (std::size_t k = 0; k < static_cast<std::size_t>(v[kLen]); ++k) {
    const auto r = static_cast<std::size_t>(v[kRes + k]);
    std::vector<Member>& m = members_[r];
    const Member last = m.back();
    const std::uint32_t p = pos[k];
    m[p] = last;
    pos_[static_cast<std::size_t>(last.var) * stride_ + last.k] = p;
    m.pop_back();
    if (m.empty()) {  // swap the resource out of in_use_
      const std::int32_t moved = in_use_.back();
      in_use_[in_use_pos_[r]] = moved;
      in_use_pos_[static_cast<std::size_t>(moved)] = in_use_pos_[r];
      in_use_.pop_back();
    }
  }
  v[kLen] = 0;
  free_.push_back(var);
  --live_;
}

std::span<const MaxMinSolver::Fixed> MaxMinSolver::solve() {
  fixed_.resize(live_);
  std::size_t n = 0;
  solve([&](std::uint32_t var, double rate) { fixed_[n++] = Fixed{var, rate}; });
  fixed_.resize(n);
  return fixed_;
}

void MaxMinSolver::begin_solve() {
  if (gen_ == std::numeric_limits<std::int32_t>::max()) {  // the stamps would wrap: reset them
    for (std::size_t v = 0; v < vars_; ++v) record(static_cast<std::uint32_t>(v))[kStamp] = 0;
    gen_ = 0;
  }
  ++gen_;
  remaining_ = capacity_;
  heap_.clear();
  for (std::int32_t r : in_use_) {
    const auto ri = static_cast<std::size_t>(r);
    unfixed_[ri] = static_cast<std::int32_t>(members_[ri].size());
    heap_.push_back(Entry{remaining_[ri] / unfixed_[ri], r});
  }
  heap_make(heap_, Entry::Less{});
}

std::int32_t MaxMinSolver::next_bottleneck(double& share) {
  // Fixing users at the smallest share s never lowers another resource's share ((rem - s) /
  // (n - 1) >= rem / n when rem / n >= s), so a heap entry's key is a lower bound of its
  // resource's share: pop, and if the share has grown since, push it back with its new value.
  while (!heap_.empty()) {
    const Entry top = heap_.front();
    const auto r = static_cast<std::size_t>(top.resource);
    if (unfixed_[r] == 0) {
      heap_pop(heap_, Entry::Less{});
      continue;
    }
    const double current = remaining_[r] / unfixed_[r];
    if (current > top.share) {
      // Sift it down with its true share; still the smallest if it stays at the front.
      heap_sift_down(heap_, 0, Entry{current, top.resource}, Entry::Less{});
      if (heap_.front().resource != top.resource) continue;
    }
    heap_pop(heap_, Entry::Less{});
    share = std::max(0.0, current);
    return top.resource;
  }
  return -1;
}

}  // namespace moesim
