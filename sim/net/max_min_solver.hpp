#pragma once
// Max-min fair rate allocation (progressive filling), SimGrid-style: it knows only resources with
// capacities and variables that each use a set of resources; nothing about networks. Variables
// are added and removed between solves, so a solve rebuilds nothing: each resource keeps the list
// of its users.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <span>
#include <vector>

namespace moesim {

class MaxMinSolver {
 public:
  explicit MaxMinSolver(std::vector<double> capacity);

  // Adds a variable that uses `resources` (ids < capacity size); returns its handle. Handles of
  // removed variables are reused.
  std::uint32_t add(std::span<const std::int32_t> resources);
  void remove(std::uint32_t var);
  std::size_t size() const { return live_; }
  std::span<const double> capacity() const { return capacity_; }
  std::span<const std::int32_t> resources(std::uint32_t var) const {
    const std::int32_t* r = record(var);
    return {r + kRes, static_cast<std::size_t>(r[kLen])};
  }

  struct Fixed {
    std::uint32_t var;
    double rate;
  };
  // The max-min fair rate of every variable, in the order they were fixed: no variable can get
  // more without taking from one that has no more. A variable with no resource is left out.
  std::span<const Fixed> solve();
  // The same, said by bottleneck: each variable is fixed at one resource, its bottleneck, at that
  // resource's level (its rate). The levels of this solve are in bottlenecks(); on_moved(var, r)
  // is called only for a variable whose bottleneck r differs from the last solve's (or that no
  // solve has fixed yet), so that a caller can track rates per bottleneck, not per variable.
  template <class OnMoved>
  void solve(OnMoved&& on_moved);
  struct Level {
    std::int32_t resource;
    double share;
  };
  std::span<const Level> bottlenecks() const { return levels_; }
  // The resource that fixed `var` in the last solve (-1: none yet).
  std::int32_t bottleneck(std::uint32_t var) const { return record(var)[kBott]; }
  // Makes the next solve report `var` as moved, whatever its bottleneck.
  void forget_bottleneck(std::uint32_t var) { record(var)[kBott] = -1; }
  // Capacity each resource has left under the rates of the last solve.
  std::span<const double> remaining() const { return remaining_; }

 private:
  struct Member {
    std::uint32_t var;
    std::uint32_t k;  // which of the variable's resources this is
  };
  void restride(std::size_t stride);
  // A variable's record in rec_: the solve that fixed it, its resource count, its bottleneck, its
  // resources. One record, not four arrays: the solve visits variables in no useful order, and
  // each array would cost its own cache miss.
  static constexpr std::size_t kStamp = 0, kLen = 1, kBott = 2, kRes = 3;
  // Records are a power of two of int32s wide (8 at least) from a 64-byte boundary in rec_, so
  // none straddles two cache lines.
  static constexpr std::size_t kAlignInts = 16;
  std::int32_t* rec_base() { return align(rec_.data()); }
  const std::int32_t* rec_base() const { return align(const_cast<std::int32_t*>(rec_.data())); }
  static std::int32_t* align(std::int32_t* p) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    return p + ((64 - (a & 63)) & 63) / sizeof(std::int32_t);
  }
  std::int32_t* record(std::uint32_t var) { return rec_base() + static_cast<std::size_t>(var) * (kRes + stride_); }
  const std::int32_t* record(std::uint32_t var) const {
    return rec_base() + static_cast<std::size_t>(var) * (kRes + stride_);
  }
  void begin_solve();
  // The resource with the smallest fair share among those with unfixed users (its share in
  // `share`), or -1 when every variable is fixed.
  std::int32_t next_bottleneck(double& share);

  std::vector<double> capacity_;
  std::vector<std::vector<Member>> members_;  // per resource: its variables
  std::vector<std::int32_t> in_use_;  // resources with members (and, until the next solve, some without)
  std::vector<char> listed_;          // per resource: in in_use_
  // Per variable: its record, and (`stride_` slots) its position in each resource's members_.
  std::size_t stride_ = 8 - kRes;  // resources a record has room for; grows with the longest path
  std::size_t vars_ = 0;    // handles issued
  std::vector<std::int32_t> rec_;
  std::vector<std::uint32_t> pos_;
  std::vector<std::uint32_t> free_;  // removed handles
  std::size_t live_ = 0;
  std::int32_t gen_ = 0;  // this solve's stamp

  // Scratch space kept between solves.
  std::vector<double> remaining_;
  std::vector<std::int32_t> unfixed_;
  struct Entry {
    double share;
    std::int32_t resource;
    // Shares here are positive (a bound that grew is above a positive one), and positive doubles
    // order like their bit patterns: integer compares are cheaper than floating-point ones.
    struct Less {  // a functor, so that the heap code inlines it
      bool operator()(const Entry& a, const Entry& b) const {
        const auto x = std::bit_cast<std::uint64_t>(a.share), y = std::bit_cast<std::uint64_t>(b.share);
        return (x < y) | ((x == y) & (a.resource < b.resource));
      }
    };
  };
  std::vector<Entry> order_;    // resources by starting share; order_[next_] is the next to look at
  std::size_t next_ = 0;
  std::vector<Entry> regrown_;  // heap: resources whose share had grown when looked at
  std::vector<Fixed> fixed_;
  std::vector<Level> levels_;  // this solve's bottlenecks, in the order they were found
};

// Progressive filling: the resource with the smallest fair share fixes its unfixed users at it.
template <class OnMoved>
void MaxMinSolver::solve(OnMoved&& on_moved) {
  begin_solve();
  // Raw pointers: on_moved may call anything, after which the compiler would reload every
  // vector's data pointer on each access.
  double* const remaining = remaining_.data();
  std::int32_t* const unfixed = unfixed_.data();
  std::int32_t* const rec = rec_base();
  const std::size_t width = kRes + stride_;
  const std::int32_t gen = gen_;
  double share = 0;
  std::size_t left = live_;  // once all are fixed, every resource still to look at is spent: stop
  while (left > 0) {
    const std::int32_t ri = next_bottleneck(share);
    if (ri < 0) break;
    const auto r = static_cast<std::size_t>(ri);
    levels_.push_back(Level{ri, share});
    // r's own totals are settled once after the loop: updating them per variable would chain
    // every iteration on one memory cell.
    const std::int32_t users = unfixed[r];
    const Member* const end = members_[r].data() + members_[r].size();
    for (const Member* m = members_[r].data(); m != end; ++m) {
      std::int32_t* const v = rec + static_cast<std::size_t>(m->var) * width;
      if (v[kStamp] == gen) continue;
      v[kStamp] = gen;
      --left;
      if (v[kBott] != ri) {
        v[kBott] = ri;
        on_moved(m->var, ri);
      }
      // (No clamp at zero here: rounding may take a share slightly negative, which
      // next_bottleneck() and the end of the solve clamp.)
      for (const std::int32_t *q = v + kRes, *const q_end = q + v[kLen]; q != q_end; ++q) {
        const auto qi = static_cast<std::size_t>(*q);
        if (qi == r) continue;
        remaining[qi] -= share;
        --unfixed[qi];
      }
    }
    remaining[r] = std::max(0.0, remaining[r] - share * users);
    unfixed[r] = 0;
  }
  for (std::int32_t r : in_use_) remaining[static_cast<std::size_t>(r)] = std::max(0.0, remaining[static_cast<std::size_t>(r)]);
}

}  // namespace moesim
