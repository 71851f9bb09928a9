#pragma once
// Max-min fair rate allocation (progressive filling), SimGrid-style: it knows only resources with
// capacities and variables that each use a set of resources; nothing about networks. Variables
// are added and removed between solves, so a solve rebuilds nothing: each resource keeps the list
// of its users.
#include <algorithm>
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
  std::span<const std::int32_t> resources(std::uint32_t var) const {
    return {res_.data() + static_cast<std::size_t>(var) * stride_, len_[var]};
  }

  struct Fixed {
    std::uint32_t var;
    double rate;
  };
  // The max-min fair rate of every variable, in the order they were fixed: no variable can get
  // more without taking from one that has no more. A variable with no resource is left out.
  std::span<const Fixed> solve();
  // The same, handing each variable to on_fixed(var, rate) instead of storing it.
  template <class OnFixed>
  void solve(OnFixed&& on_fixed);
  // Capacity each resource has left under the rates of the last solve.
  std::span<const double> remaining() const { return remaining_; }

 private:
  struct Member {
    std::uint32_t var;
    std::uint32_t k;  // which of the variable's resources this is
  };
  void restride(std::size_t stride);
  void begin_solve();
  // The resource with the smallest fair share among those with unfixed users (its share in
  // `share`), or -1 when every variable is fixed.
  std::int32_t next_bottleneck(double& share);

  std::vector<double> capacity_;
  std::vector<std::vector<Member>> members_;  // per resource: its variables
  std::vector<std::int32_t> in_use_;          // resources with members, each once
  std::vector<std::uint32_t> in_use_pos_;     // resource -> index in in_use_
  // Per variable, `stride_` slots each: its resources, and its position in each one's members_.
  std::size_t stride_ = 4;
  std::vector<std::int32_t> res_;
  std::vector<std::uint32_t> pos_;
  std::vector<std::uint32_t> len_;
  std::vector<std::uint32_t> stamp_;  // the solve that fixed the variable
  std::vector<std::uint32_t> free_;   // removed handles
  std::size_t live_ = 0;
  std::uint32_t gen_ = 0;

  // Scratch space kept between solves.
  std::vector<double> remaining_;
  std::vector<std::int32_t> unfixed_;
  struct Entry {
    double share;
    std::int32_t resource;
    bool operator>(const Entry& o) const { return share != o.share ? share > o.share : resource > o.resource; }
  };
  std::vector<Entry> heap_;
  std::vector<Fixed> fixed_;
};

// Progressive filling: the resource with the smallest fair share fixes its unfixed users at it.
template <class OnFixed>
void MaxMinSolver::solve(OnFixed&& on_fixed) {
  begin_solve();
  // Raw pointers: on_fixed may call anything, after which the compiler would reload every
  // vector's data pointer on each access.
  double* const remaining = remaining_.data();
  std::int32_t* const unfixed = unfixed_.data();
  std::uint32_t* const stamp = stamp_.data();
  const std::uint32_t* const len = len_.data();
  const std::int32_t* const res = res_.data();
  const std::size_t stride = stride_;
  const std::uint32_t gen = gen_;
  double share = 0;
  std::size_t left = live_;  // once all are fixed, the heap holds only spent resources: stop
  while (left > 0) {
    const std::int32_t ri = next_bottleneck(share);
    if (ri < 0) break;
    const auto r = static_cast<std::size_t>(ri);
    // r's own totals are settled once after the loop: updating them per variable would chain
    // every iteration on one memory cell.
    const std::int32_t users = unfixed[r];
    const Member* const end = members_[r].data() + members_[r].size();
    for (const Member* m = members_[r].data(); m != end; ++m) {
      const std::uint32_t var = m->var;
      if (stamp[var] == gen) continue;
      stamp[var] = gen;
      --left;
      on_fixed(var, share);
      const std::int32_t* const uses = res + static_cast<std::size_t>(var) * stride;
      for (std::uint32_t k = 0, n = len[var]; k < n; ++k) {
        const auto q = static_cast<std::size_t>(uses[k]);
        if (q == r) continue;
        remaining[q] = std::max(0.0, remaining[q] - share);
        --unfixed[q];
      }
    }
    remaining[r] = std::max(0.0, remaining[r] - share * users);
    unfixed[r] = 0;
  }
}

}  // namespace moesim
