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
  double share = 0;
  for (std::int32_t ri = next_bottleneck(share); ri >= 0; ri = next_bottleneck(share)) {
    const auto r = static_cast<std::size_t>(ri);
    // r's own totals are settled once after the loop: updating them per variable would chain
    // every iteration on one memory cell.
    const std::int32_t users = unfixed_[r];
    for (const Member& m : members_[r]) {
      if (stamp_[m.var] == gen_) continue;
      stamp_[m.var] = gen_;
      on_fixed(m.var, share);
      const std::int32_t* res = res_.data() + static_cast<std::size_t>(m.var) * stride_;
      for (std::uint32_t k = 0, len = len_[m.var]; k < len; ++k) {
        const auto q = static_cast<std::size_t>(res[k]);
        if (q == r) continue;
        remaining_[q] = std::max(0.0, remaining_[q] - share);
        --unfixed_[q];
      }
    }
    remaining_[r] = std::max(0.0, remaining_[r] - share * users);
    unfixed_[r] = 0;
  }
}

}  // namespace moesim
