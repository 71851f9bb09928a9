#pragma once
// Max-min fair rate allocation (progressive filling), SimGrid-style: it knows only resources with
// capacities and variables that each use a set of resources; nothing about networks.
#include <cstdint>
#include <span>
#include <vector>

namespace moesim {

class MaxMinSolver {
 public:
  // Solves for `rates` (one per variable). Variable v uses resources
  // resources[offsets[v] .. offsets[v+1]); offsets has variables + 1 entries. A variable with
  // no resource gets rate 0. Each resource is shared max-min fairly: no variable can get more
  // without taking from one that has no more.
  void solve(std::span<const double> capacity, std::span<const std::uint32_t> offsets,
             std::span<const std::int32_t> resources, std::vector<double>& rates);

 private:
  // Scratch space kept between calls so a re-solve allocates nothing.
  std::vector<double> remaining_;
  std::vector<std::int32_t> unfixed_;
  std::vector<std::uint32_t> by_res_offsets_;
  std::vector<std::uint32_t> cursor_;
  std::vector<std::int32_t> by_res_vars_;
  std::vector<std::int32_t> active_;  // resources that still have unfixed users
  std::vector<char> fixed_;
  struct Entry {
    double share;
    std::int32_t resource;
    bool operator>(const Entry& o) const { return share != o.share ? share > o.share : resource > o.resource; }
  };
  std::vector<Entry> heap_;
};

}  // namespace moesim
