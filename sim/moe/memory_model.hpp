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

// `tokens_per_gpu` sequences of `kv_len` cached tokens each (decode) or one prompt of
// `tokens_per_gpu` tokens (prefill, kv_len ignored).
GpuMemory gpu_memory(const ModelSpec& model, const Placement& placement, int tokens_per_gpu, int kv_len, bool prefill);

}  // namespace moesim
