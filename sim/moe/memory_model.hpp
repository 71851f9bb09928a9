#pragma once
// HBM needed on each GPU: the routed experts it hosts (replicas included) for every MoE layer,
// plus what every GPU holds under data-parallel attention (attention, dense-FFN and shared-expert
// weights of all layers) and the KV cache of its batch. Activations and workspace are not counted.
#include <vector>

#include "core/units.hpp"
#include "moe/placement.hpp"
#include "spec/model_spec.hpp"

namespace moesim {

struct GpuMemory {
  std::vector<Bytes> expert_bytes;  // [gpu] routed-expert weights, replicas included
  Bytes replicated_bytes;           // per GPU: attention + dense FFN + shared experts
  Bytes kv_bytes;                   // per GPU: KV cache of its batch
  Bytes max_total_bytes() const;    // over GPUs
  int fullest_gpu() const;
};

// `cached_tokens`: tokens in the KV cache of one GPU's batch (per layer).
GpuMemory gpu_memory(const ModelSpec& model, const Placement& placement, double cached_tokens);

}  // namespace moesim
