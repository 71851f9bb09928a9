// Max-min fairness by progressive filling: repeatedly the resource with the smallest fair share
// (remaining capacity / unfixed users) fixes its users at that share. The smallest share comes
// from lower bounds (the starting shares, sorted, and a heap of shares found grown), refreshed
// only when looked at (never on every variable update).
#include "net/max_min_solver.hpp"

#include <algorithm>
#include <limits>

#include "core/error.hpp"
#include "core/min_heap.hpp"

namespace moesim {

MaxMinSolver::MaxMinSolver(std::vector<double> capacity)
    : capacity_(std::move(capacity)),
      members_(capacity_.size()),
      done_(capacity_.size(), 0),
      listed_(capacity_.size(), 0),
      remaining_(capacity_),
      unfixed_(capacity_.size(), 0) {}

void MaxMinSolver::restride(std::size_t stride) {
  const std::size_t old_width = kRes + stride_, width = kRes + stride;
  std::vector<std::int32_t> rec(vars_ * width + kAlignInts);
  std::vector<std::uint32_t> pos(vars_ * stride);
  for (std::size_t v = 0; v < vars_; ++v) {
    std::copy_n(rec_base() + v * old_width, old_width, align(rec.data()) + v * width);
    std::copy_n(pos_.begin() + static_cast<std::ptrdiff_t>(v * stride_), stride_,
                pos.begin() + static_cast<std::ptrdiff_t>(v * stride));
  }
  rec_.swap(rec);
  pos_.swap(pos);
  stride_ = stride;
}

std::uint32_t MaxMinSolver::add(std::span<const std::int32_t> resources) {
  const std::size_t n = resources.size();
  for (std::size_t k = 0; k < n; ++k) {
    const std::int32_t r = resources[k];
    // (Unsigned: a negative id is out of range too.)
    if (static_cast<std::uint32_t>(r) >= capacity_.size()) throw Error("max-min solver: resource id out of range");
    // (A solve takes a variable as fixed once one of its other resources has been a bottleneck.)
    for (std::size_t j = 0; j < k; ++j)
      if (resources[j] == r) throw Error("max-min solver: a variable uses a resource twice");
  }
  if (n > stride_) restride(std::bit_ceil(kRes + n) - kRes);
  std::uint32_t var;
  if (!free_.empty()) {
    var = free_.back();
    free_.pop_back();
  } else {
    var = static_cast<std::uint32_t>(vars_++);
    // Grown by doubling, by hand: the records keep their place from the aligned base (a resize
    // may move the data to an address aligned differently).
    const std::size_t width = kRes + stride_;
    if (rec_.size() < vars_ * width + kAlignInts) {
      std::vector<std::int32_t> rec(2 * vars_ * width + kAlignInts);
      std::copy_n(rec_base(), (vars_ - 1) * width, align(rec.data()));
      rec_.swap(rec);
    }
    pos_.resize(pos_.size() + stride_);
  }
  std::int32_t* const v = record(var);
  std::uint32_t* const pos = pos_.data() + static_cast<std::size_t>(var) * stride_;
  v[kLen] = static_cast<std::int32_t>(n);
  for (std::size_t k = 0; k < n; ++k) {
    const std::int32_t r = resources[k];
    std::vector<Member>& m = members_[static_cast<std::size_t>(r)];
    if (!listed_[static_cast<std::size_t>(r)]) {
      listed_[static_cast<std::size_t>(r)] = 1;
      in_use_.push_back(r);
    }
    v[kRes + k] = r;
    pos[k] = static_cast<std::uint32_t>(m.size());
    const std::int32_t other = n == 2 ? resources[1 - k] : n == 1 ? kNone : kMany;
    m.push_back(Member{var, static_cast<std::uint32_t>(k), other, 0});  // 0: never fixed
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
    if (m.empty()) remaining_[r] = capacity_[r];  // unused, it has all its capacity left
  }
  v[kLen] = 0;
  free_.push_back(var);
  --live_;
}

// Progressive filling: the resource with the smallest fair share fixes its unfixed users at it.
void MaxMinSolver::fill() {
  begin_solve();
  moved_.clear();
  double* const remaining = remaining_.data();
  std::int32_t* const unfixed = unfixed_.data();
  std::int32_t* const done = done_.data();
  const std::int32_t* const rec = rec_base();
  const std::size_t width = kRes + stride_;
  const std::int32_t gen = gen_;
  double share = 0;
  std::size_t left = live_;  // once all are fixed, every resource still to look at is spent: stop
  while (left > 0) {
    const std::int32_t ri = next_bottleneck(share);
    if (ri < 0) break;
    const auto r = static_cast<std::size_t>(ri);
    levels_.push_back(Level{ri, share});
    done[r] = gen;
    // r's own totals are settled once after the loop: updating them per variable would chain
    // every iteration on one memory cell.
    // Every unfixed user of r is fixed here, and r counts them: `left` drops by that count.
    const std::int32_t users = unfixed[r];
    left -= static_cast<std::size_t>(users);
    Member* const end = members_[r].data() + members_[r].size();
    for (Member* m = members_[r].data(); m != end; ++m) {
      // (No clamp at zero below: rounding may take a share slightly negative, which
      // next_bottleneck() and the end of the solve clamp.)
      const std::int32_t o = m->other;
      if (o >= 0) {
        const auto oi = static_cast<std::size_t>(o);
        if (done[oi] == gen) continue;  // fixed at o
        remaining[oi] -= share;
        --unfixed[oi];
      } else if (o == kMany) {
        const std::int32_t* const v = rec + static_cast<std::size_t>(m->var) * width;
        const std::int32_t *const q_begin = v + kRes, *const q_end = q_begin + v[kLen];
        const auto fixed = [&](std::int32_t q) { return q != ri && done[static_cast<std::size_t>(q)] == gen; };
        if (std::any_of(q_begin, q_end, fixed)) continue;
        for (const std::int32_t* q = q_begin; q != q_end; ++q) {
          if (*q == ri) continue;
          remaining[static_cast<std::size_t>(*q)] -= share;
          --unfixed[static_cast<std::size_t>(*q)];
        }
      }
      if (m->fixed_at != gen - 1) moved_.push_back(Moved{m->var, ri});
      m->fixed_at = gen;
    }
    remaining[r] = std::max(0.0, remaining[r] - share * users);
    unfixed[r] = 0;
  }
  for (std::int32_t r : in_use_)
    remaining[static_cast<std::size_t>(r)] = std::max(0.0, remaining[static_cast<std::size_t>(r)]);
}

std::span<const MaxMinSolver::Fixed> MaxMinSolver::solve() {
  solve([](std::uint32_t, std::int32_t) {});
  fixed_.clear();
  for (const Level& l : levels_)
    for (const Member& m : members_[static_cast<std::size_t>(l.resource)])
      if (m.fixed_at == gen_) fixed_.push_back(Fixed{m.var, l.share});
  return fixed_;
}

std::int32_t MaxMinSolver::bottleneck(std::uint32_t var) const {
  const std::int32_t* const v = record(var);
  for (std::size_t k = 0; k < static_cast<std::size_t>(v[kLen]); ++k)
    if (member(var, k).fixed_at == gen_) return v[kRes + k];
  return -1;
}

void MaxMinSolver::forget_bottleneck(std::uint32_t var) {
  for (std::size_t k = 0; k < static_cast<std::size_t>(record(var)[kLen]); ++k) member(var, k).fixed_at = 0;
}

void MaxMinSolver::begin_solve() {
  if (gen_ == std::numeric_limits<std::int32_t>::max()) {  // solve numbers would wrap: renumber
    for (std::vector<Member>& list : members_)
      for (Member& m : list) m.fixed_at = m.fixed_at == gen_ ? 1 : 0;
    std::fill(done_.begin(), done_.end(), 0);
    gen_ = 1;
  }
  ++gen_;
  // Resources in order of their starting share. in_use_ keeps the last solve's order (a resource
  // that lost its users stays listed until here, so removals never reorder it), and shares move
  // little between solves, so an insertion sort moves each resource only a few places. Equal
  // shares keep the last solve's order (any order of equal shares gives the same rates): comparing
  // shares alone moves fewer entries, and costs less, than ordering them by id too.
  order_.clear();
  for (std::int32_t r : in_use_) {
    const auto ri = static_cast<std::size_t>(r);
    const auto users = static_cast<std::int32_t>(members_[ri].size());
    if (users == 0) {
      listed_[ri] = 0;
      continue;
    }
    unfixed_[ri] = users;
    remaining_[ri] = capacity_[ri];  // (unused resources keep theirs: remove() restores it)
    const Entry e{capacity_[ri] / users, r};
    std::size_t j = order_.size();
    order_.push_back(e);
    for (; j > 0 && Entry::Less{}(e, order_[j - 1]); --j) order_[j] = order_[j - 1];
    order_[j] = e;
  }
  in_use_.resize(order_.size());
  for (std::size_t i = 0; i < order_.size(); ++i) in_use_[i] = order_[i].resource;
  next_ = 0;
  regrown_.clear();
  levels_.clear();
}

std::int32_t MaxMinSolver::next_bottleneck(double& share) {
  // Fixing users at the smallest share s never lowers another resource's share ((rem - s) /
  // (n - 1) >= rem / n when rem / n >= s), so every key below is a lower bound of its resource's
  // share. The smallest key comes from the sorted starting shares or from the heap of resources
  // whose share was found grown; one whose share grew goes (back) to the heap with its new value.
  for (;;) {
    while (next_ < order_.size() && unfixed_[static_cast<std::size_t>(order_[next_].resource)] == 0) ++next_;
    const bool in_order = next_ < order_.size();
    if (!in_order && regrown_.empty()) return -1;
    const bool from_heap = !regrown_.empty() && (!in_order || Entry::Less{}(regrown_.front(), order_[next_]));
    const Entry top = from_heap ? regrown_.front() : order_[next_];
    const auto r = static_cast<std::size_t>(top.resource);
    if (unfixed_[r] == 0) {  // only heap entries get here: the loop above skipped the others
      heap_pop(regrown_, Entry::Less{});
      continue;
    }
    const double current = remaining_[r] / unfixed_[r];
    if (current > top.share) {
      if (from_heap) {
        heap_sift_down(regrown_, 0, Entry{current, top.resource}, Entry::Less{});
      } else {
        ++next_;
        heap_push(regrown_, Entry{current, top.resource}, Entry::Less{});
      }
      continue;
    }
    if (from_heap)
      heap_pop(regrown_, Entry::Less{});
    else
      ++next_;
    share = std::max(0.0, current);
    return top.resource;
  }
}

}  // namespace moesim
