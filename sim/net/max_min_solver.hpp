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

  // Adds a variable that uses `resources` (distinct ids < capacity size); returns its handle.
  // Handles of removed variables are reused.
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
  std::int32_t bottleneck(std::uint32_t var) const;
  // Makes the next solve report `var` as moved, whatever its bottleneck.
  void forget_bottleneck(std::uint32_t var);
  // Capacity each resource has left under the rates of the last solve.
  std::span<const double> remaining() const { return remaining_; }

 private:
  // A variable's entry in one resource's list. A solve reads the list in order and learns from it
  // whether the variable is still unfixed (none of its other resources has been a bottleneck yet
  // in this solve) and whether it was fixed here last time. Most variables have one other
  // resource, named here, so for them nothing is looked up and the solve makes no scattered
  // reads; a variable on more resources is checked through its record.
  struct Member {
    std::uint32_t var;
    std::uint32_t k;        // which of the variable's resources this is
    std::int32_t other;     // its only other resource; kNone: it has none; kMany: see its record
    std::int32_t fixed_at;  // the solve that last fixed it at this resource
  };
  static constexpr std::int32_t kNone = -1, kMany = -2;
  void restride(std::size_t stride);
  const Member& member(std::uint32_t var, std::size_t k) const {  // its entry in its k-th resource's list
    const auto r = static_cast<std::size_t>(record(var)[kRes + k]);
    return members_[r][pos_[static_cast<std::size_t>(var) * stride_ + k]];
  }
  Member& member(std::uint32_t var, std::size_t k) {
    return const_cast<Member&>(static_cast<const MaxMinSolver&>(*this).member(var, k));
  }
  // A variable's record in rec_: its resource count, then its resources.
  static constexpr std::size_t kLen = 0, kRes = 1;
  // Records are a power of two of int32s wide (4 at least) from a 64-byte boundary in rec_, so
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
  std::vector<std::int32_t> done_;            // per resource: the last solve in which it was a bottleneck
  std::vector<std::int32_t> in_use_;          // resources with members (and, until the next solve, some without)
  std::vector<char> listed_;                  // per resource: in in_use_
  // Per variable: its record, and (`stride_` slots) its position in each resource's members_.
  std::size_t stride_ = 4 - kRes;  // resources a record has room for; grows with the longest path
  std::size_t vars_ = 0;           // handles issued
  std::vector<std::int32_t> rec_;
  std::vector<std::uint32_t> pos_;
  std::vector<std::uint32_t> free_;  // removed handles
  std::size_t live_ = 0;
  std::int32_t gen_ = 1;  // this solve's number (the first solve is 2: members start at 0)

  // Scratch space kept between solves.
  std::vector<double> remaining_;
  std::vector<std::int32_t> unfixed_;
  struct Entry {
    double share;
    std::int32_t resource;
    // Shares here are positive (a bound that grew is above a positive one), and positive doubles
    // order like their bit patterns: integer compares are cheaper than floating-point ones. Equal
    // shares are not ordered further: any of them may be the next bottleneck (same rates).
    struct Less {  // a functor, so that the heap code inlines it
      bool operator()(const Entry& a, const Entry& b) const {
        return std::bit_cast<std::uint64_t>(a.share) < std::bit_cast<std::uint64_t>(b.share);
      }
    };
  };
  std::vector<Entry> order_;  // resources by starting share; order_[next_] is the next to look at
  std::size_t next_ = 0;
  std::vector<Entry> regrown_;  // heap: resources whose share had grown when looked at
  std::vector<Fixed> fixed_;
  std::vector<Level> levels_;  // this solve's bottlenecks, in the order they were found
  struct Moved {
    std::uint32_t var;
    std::int32_t resource;
  };
  // This solve's moves, in the order they were found: reported after the filling, whose loop
  // then calls nothing (a call in it would spill its registers).
  std::vector<Moved> moved_;
  void fill();  // progressive filling: sets levels_ and moved_
};

template <class OnMoved>
void MaxMinSolver::solve(OnMoved&& on_moved) {
  fill();
  for (const Moved& m : moved_) on_moved(m.var, m.resource);
}

}  // namespace moesim
