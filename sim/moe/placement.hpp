#pragma once
// Placement: which GPUs host each expert of each MoE layer (one or more replicas), and the
// inverse view (the expert slots on each GPU) that the expert-compute model needs.
#include <string>
#include <string_view>
#include <vector>

namespace moesim {

class Placement {
 public:
  // replicas[layer][expert] = GPUs hosting that expert (non-empty, distinct, each < gpus).
  // Throws InputError when the mapping is impossible (empty replica list, GPU out of range, an
  // expert placed twice on one GPU).
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
  int slot(int layer, int expert, int gpu) const;
  int max_slots_per_gpu() const;  // over layers and GPUs

 private:
  int gpus_;
  int experts_;
  std::vector<std::vector<std::vector<int>>> replicas_;  // [layer][expert] -> gpus
  std::vector<std::vector<std::vector<int>>> local_;     // [layer][gpu] -> experts
};

// contiguous: expert e on GPU floor(e * gpus / experts) blocks (the first experts % gpus GPUs get
// one more when it does not divide); round_robin: expert e on GPU e % gpus. One replica each.
Placement make_placement(std::string_view kind, int moe_layers, int experts, int gpus);
std::vector<std::string> placement_kinds();

}  // namespace moesim
