#pragma once
// HBM needed on each GPU: the routed experts it hosts (replicas included) for every MoE layer,
// plus what every GPU holds under data-parallel attention (attention, dense-FFN and shared-expert
// weights of all layers) and the KV cache of its batch. Activations and workspace are not counted.
#include <vector>

#include "spec/model_spec.hpp"
#include "moe/placement.hpp"

namespace moesim {

struct GpuMemory {
  std::vector<double> expert_bytes;  // [gpu] routed-expert weights, replicas included
  double replicated_bytes = 0;       // per GPU: attention + dense FFN + shared experts
  double kv_bytes = 0;               // per GPU: KV cache of its batch
  double max_total_bytes() const;    // over GPUs
  int fullest_gpu() const;
};

// `tokens_per_gpu` sequences of `kv_len` cached tokens each (decode) or one prompt of
// `tokens_per_gpu` tokens (prefill, kv_len ignored).
GpuMemory gpu_memory(const ModelSpec& model, const Placement& placement, int tokens_per_gpu, int kv_len, bool prefill);

}  // namespace moesim
