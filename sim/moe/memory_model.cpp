// Per-GPU HBM accounting (see memory_model.hpp).
#include "moe/memory_model.hpp"

#include <algorithm>

namespace moesim {

Bytes GpuMemory::max_total_bytes() const {
  const Bytes experts = expert_bytes.empty() ? Bytes{} : *std::max_element(expert_bytes.begin(), expert_bytes.end());
  return experts + replicated_bytes + kv_bytes;
}

int GpuMemory::fullest_gpu() const {
  return static_cast<int>(std::max_element(expert_bytes.begin(), expert_bytes.end()) - expert_bytes.begin());
}

GpuMemory gpu_memory(const ModelSpec& m, const Placement& placement, double cached_tokens) {
  GpuMemory mem;
  mem.expert_bytes.assign(static_cast<std::size_t>(placement.gpus()), Bytes{});
  for (int l = 0; l < placement.layers(); ++l)
    for (int g = 0; g < placement.gpus(); ++g)
      mem.expert_bytes[static_cast<std::size_t>(g)] +=
          Bytes(static_cast<double>(placement.local_experts(l, g).size()) * m.expert_weight_bytes());
  const double attention = m.attn_params * m.attention_weight_bytes() * m.layers;
  const double dense = 3.0 * m.hidden * m.dense_ffn * m.weight_bytes * m.dense_layers;
  mem.replicated_bytes = Bytes(attention + dense + m.shared_weight_bytes() * m.moe_layers());
  mem.kv_bytes = Bytes(cached_tokens * m.kv_bytes_per_token * m.layers);
  return mem;
}

}  // namespace moesim
