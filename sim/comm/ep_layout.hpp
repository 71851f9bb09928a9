#pragma once
// The expert-parallel group as its kernels see it: each GPU's NVLink domain (HGX node or NVL
// rack) and local rank there. A hierarchical kernel reaches a remote domain through the GPU with
// the sender's local rank (its rail), skipping GPUs that are down.
#include <vector>

#include "net/topology.hpp"

namespace moesim {

class EpLayout {
 public:
  // The group is GPUs [0, gpus) of `topology`; `down` (empty, or one flag per GPU) marks GPUs that
  // take no part. A GPU without a domain in the topology is a domain of its own.
  EpLayout(const Topology& topology, int gpus, std::vector<char> down = {});

  int gpus() const { return static_cast<int>(domain_.size()); }
  int domains() const { return static_cast<int>(members_.size()); }
  int domain(int gpu) const { return domain_[static_cast<std::size_t>(gpu)]; }
  int local_rank(int gpu) const { return local_rank_[static_cast<std::size_t>(gpu)]; }
  const std::vector<int>& members(int domain) const { return members_[static_cast<std::size_t>(domain)]; }
  const std::vector<int>& gpu_domain() const { return domain_; }
  int max_domain_size() const { return max_members_; }
  // The live GPU of `domain` that relays `src`'s traffic: the one with src's local rank, or the
  // next live one after it; -1 when the domain has no live GPU.
  int proxy(int src, int domain) const;
  bool spans_scaleout() const { return members_.size() > 1; }
  bool down(int gpu) const { return !down_.empty() && down_[static_cast<std::size_t>(gpu)] != 0; }

 private:
  std::vector<int> domain_;      // [gpu] -> domain 0..domains-1, by first appearance
  std::vector<int> local_rank_;  // [gpu] -> index among its domain's members
  std::vector<std::vector<int>> members_;
  std::vector<char> down_;
  int max_members_ = 0;
};

}  // namespace moesim
