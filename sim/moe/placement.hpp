#pragma once
// Placement: which GPUs host each expert of each MoE layer (one or more replicas), and the
// inverse view (the expert slots on each GPU) that the expert-compute model needs.
#include <string>
#include <string_view>
#include <vector>

#include "spec/settings.hpp"

namespace moesim {

class Placement {
 public:
  // replicas[layer][expert] = GPUs hosting that expert (non-empty, distinct, each < gpus).
  // Throws InputError when the mapping is impossible (no layers or experts, empty replica list,
  // GPU out of range, an expert placed twice on one GPU, layers with different expert counts).
  // A GPU may host nothing (more GPUs than experts).
  Placement(int gpus, std::vector<std::vector<std::vector<int>>> replicas);

  int gpus() const { return gpus_; }
  int layers() const { return static_cast<int>(replicas_.size()); }
  int experts() const { return experts_; }
  const std::vector<int>& replicas(int layer, int expert) const {
    return replicas_[static_cast<std::size_t>(layer)][static_cast<std::size_t>(expert)];
  }
  // Experts hosted on `gpu` in `layer`, in slot order; slot(layer, expert, gpu) is the index of
  // the expert in that list (-1 when the GPU does not host it).
  const std::vector<int>& local_experts(int layer, int gpu) const {
    return local_[static_cast<std::size_t>(layer)][static_cast<std::size_t>(gpu)];
  }
  int slot(int layer, int expert, int gpu) const;  // O(replicas of the expert)
  // Parallel to replicas(layer, expert): the expert's slot on each of its replica GPUs.
  const std::vector<int>& replica_slots(int layer, int expert) const {
    return replica_slots_[static_cast<std::size_t>(layer)][static_cast<std::size_t>(expert)];
  }
  int max_slots_per_gpu() const { return max_slots_; }  // over layers and GPUs
  // Same GPU count and the same replica lists (in the same order) in every layer.
  bool operator==(const Placement& other) const = default;

 private:
  int gpus_;
  int experts_;
  std::vector<std::vector<std::vector<int>>> replicas_;       // [layer][expert] -> gpus
  std::vector<std::vector<std::vector<int>>> local_;          // [layer][gpu] -> experts
  std::vector<std::vector<std::vector<int>>> replica_slots_;  // [layer][expert] -> slot per replica
  int max_slots_ = 0;
};

// contiguous: experts in order, in blocks: with q = experts / gpus and r = experts % gpus, GPUs
// 0..r-1 host q + 1 experts each and the others q (256 experts on 72 GPUs: 40 GPUs x 4, 32 x 3;
// with gpus > experts, GPUs experts..gpus-1 host nothing). round_robin: expert e on GPU e % gpus.
// One replica each, the same in every layer. Throws InputError for moe_layers, experts or gpus < 1,
// Error for a kind that is not one of these two.
Placement make_placement(PlacementKind kind, int moe_layers, int experts, int gpus);

}  // namespace moesim
