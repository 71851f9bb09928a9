// Placement: validates an expert -> GPU replica mapping and builds the per-GPU slot view, assuming
// every layer has the same number of experts and slots are numbered in expert order.
#include "moe/placement.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"

namespace moesim {

Placement::Placement(int gpus, std::vector<std::vector<std::vector<int>>> replicas)
    : gpus_(gpus), experts_(0), replicas_(std::move(replicas)) {
  if (gpus_ < 1) throw InputError(fmt::format("placement: GPU count must be >= 1, got {}", gpus_));
  if (replicas_.empty()) throw InputError("placement: no MoE layers");
  experts_ = static_cast<int>(replicas_.front().size());
  if (experts_ < 1) throw InputError("placement: layer 0 has no experts");
  const auto g_count = static_cast<std::size_t>(gpus_);
  local_.resize(replicas_.size());
  replica_slots_.resize(replicas_.size());
  std::vector<int> seen(g_count, -1);  // seen[gpu] == expert: that expert already listed the GPU
  for (std::size_t l = 0; l < replicas_.size(); ++l) {
    const auto& layer = replicas_[l];
    if (layer.size() != replicas_.front().size())
      throw InputError(fmt::format("placement: layer {} has {} experts but layer 0 has {}", l, layer.size(), experts_));
    auto& local = local_[l];
    local.assign(g_count, {});
    auto& slots = replica_slots_[l];
    slots.resize(layer.size());
    std::fill(seen.begin(), seen.end(), -1);
    for (std::size_t e = 0; e < layer.size(); ++e) {
      if (layer[e].empty()) throw InputError(fmt::format("placement: layer {} expert {} has no replica", l, e));
      slots[e].clear();
      for (int g : layer[e]) {
        if (g < 0 || g >= gpus_)
          throw InputError(
              fmt::format("placement: layer {} expert {} is placed on GPU {}, but GPUs are 0..{}", l, e, g, gpus_ - 1));
        auto& mark = seen[static_cast<std::size_t>(g)];
        if (mark == static_cast<int>(e))
          throw InputError(fmt::format("placement: layer {} expert {} is placed twice on GPU {}", l, e, g));
        mark = static_cast<int>(e);
        // Experts are visited in order, so each GPU's slots come out in expert order.
        auto& on_gpu = local[static_cast<std::size_t>(g)];
        slots[e].push_back(static_cast<int>(on_gpu.size()));
        on_gpu.push_back(static_cast<int>(e));
        max_slots_ = std::max(max_slots_, static_cast<int>(on_gpu.size()));
      }
    }
  }
}

int Placement::slot(int layer, int expert, int gpu) const {
  const auto& gpus = replicas(layer, expert);
  for (std::size_t i = 0; i < gpus.size(); ++i)
    if (gpus[i] == gpu) return replica_slots(layer, expert)[i];
  return -1;
}

Placement make_placement(PlacementKind kind, int moe_layers, int experts, int gpus) {
  if (moe_layers < 1) throw InputError(fmt::format("placement: MoE layers must be >= 1, got {}", moe_layers));
  if (experts < 1) throw InputError(fmt::format("placement: experts must be >= 1, got {}", experts));
  if (gpus < 1) throw InputError(fmt::format("placement: GPUs must be >= 1, got {}", gpus));
  std::vector<std::vector<int>> layer(static_cast<std::size_t>(experts));
  if (kind == PlacementKind::contiguous) {
    const int q = experts / gpus;
    const int r = experts % gpus;
    const int big = r * (q + 1);  // experts on the first r GPUs, q + 1 each
    for (int e = 0; e < experts; ++e)
      layer[static_cast<std::size_t>(e)] = {e < big ? e / (q + 1) : r + (e - big) / q};  // e >= big implies q > 0
  } else if (kind == PlacementKind::round_robin) {
    for (int e = 0; e < experts; ++e) layer[static_cast<std::size_t>(e)] = {e % gpus};
  } else {
    throw Error(fmt::format("placement: {} is not a fixed layout (contiguous or round_robin)", setting_name(kind)));
  }
  return Placement(gpus, std::vector<std::vector<std::vector<int>>>(static_cast<std::size_t>(moe_layers), layer));
}

}  // namespace moesim
