// Max-min fairness by progressive filling: repeatedly the resource with the smallest fair share
// (remaining capacity / unfixed users) fixes its users at that share. The smallest share comes
// from a heap of lower bounds, refreshed only when popped (never on every variable update).
#include "net/max_min_solver.hpp"

#include <algorithm>
#include <functional>

#include "core/error.hpp"

namespace moesim {

MaxMinSolver::MaxMinSolver(std::vector<double> capacity)
    : capacity_(std::move(capacity)),
      members_(capacity_.size()),
      in_use_pos_(capacity_.size(), 0),
      remaining_(capacity_),
      unfixed_(capacity_.size(), 0) {}

void MaxMinSolver::restride(std::size_t stride) {
  const std::size_t vars = len_.size();
  std::vector<std::int32_t> res(vars * stride);
  std::vector<std::uint32_t> pos(vars * stride);
  for (std::size_t v = 0; v < vars; ++v)
    for (std::size_t k = 0; k < len_[v]; ++k) {
      res[v * stride + k] = res_[v * stride_ + k];
      pos[v * stride + k] = pos_[v * stride_ + k];
    }
  res_.swap(res);
  pos_.swap(pos);
  stride_ = stride;
}

std::uint32_t MaxMinSolver::add(std::span<const std::int32_t> resources) {
  if (resources.size() > stride_) restride(std::max(resources.size(), 2 * stride_));
  std::uint32_t var;
  if (!free_.empty()) {
    var = free_.back();
    free_.pop_back();
  } else {
    var = static_cast<std::uint32_t>(len_.size());
    len_.push_back(0);
    stamp_.push_back(0);
    res_.resize(res_.size() + stride_);
    pos_.resize(pos_.size() + stride_);
  }
  const std::size_t base = static_cast<std::size_t>(var) * stride_;
  len_[var] = static_cast<std::uint32_t>(resources.size());
  stamp_[var] = gen_ - 1;  // not fixed by the current solve
  for (std::size_t k = 0; k < resources.size(); ++k) {
    const auto r = static_cast<std::size_t>(resources[k]);
    if (r >= capacity_.size()) throw Error("max-min solver: resource id out of range");
    std::vector<Member>& m = members_[r];
    if (m.empty()) {
      in_use_pos_[r] = static_cast<std::uint32_t>(in_use_.size());
      in_use_.push_back(resources[k]);
    }
    res_[base + k] = resources[k];
    pos_[base + k] = static_cast<std::uint32_t>(m.size());
    m.push_back(Member{var, static_cast<std::uint32_t>(k)});
  }
  ++live_;
  return var;
}

void MaxMinSolver::remove(std::uint32_t var) {
  const std::size_t base = static_cast<std::size_t>(var) * stride_;
  for (std::size_t k = 0; k < len_[var]; ++k) {
    const auto r = static_cast<std::size_t>(res_[base + k]);
    std::vector<Member>& m = members_[r];
    const Member last = m.back();
    const std::uint32_t p = pos_[base + k];
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
  len_[var] = 0;
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
  if (++gen_ == 0) {  // the stamps wrapped: none may look fixed by this solve
    std::fill(stamp_.begin(), stamp_.end(), 0);
    gen_ = 1;
  }
  remaining_ = capacity_;
  heap_.clear();
  for (std::int32_t r : in_use_) {
    const auto ri = static_cast<std::size_t>(r);
    unfixed_[ri] = static_cast<std::int32_t>(members_[ri].size());
    heap_.push_back(Entry{remaining_[ri] / unfixed_[ri], r});
  }
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>{});
}

std::int32_t MaxMinSolver::next_bottleneck(double& share) {
  // Fixing users at the smallest share s never lowers another resource's share ((rem - s) /
  // (n - 1) >= rem / n when rem / n >= s), so a heap entry's key is a lower bound of its
  // resource's share: pop, and if the share has grown since, push it back with its new value.
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
    share = std::max(0.0, current);
    return top.resource;
  }
  return -1;
}

}  // namespace moesim
