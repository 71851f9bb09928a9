#pragma once
// MoE layer plan: from the gate's choices on every source GPU and the placement, the token copies
// each GPU sends each other GPU in dispatch (one per token and destination GPU when deduplicating,
// like DeepEP; one per token-expert otherwise), the tokens per local expert slot on each GPU, and
// the per-expert load. Combine sends the same copies back, so it needs no matrix of its own.
#include <cstdint>
#include <vector>

#include "moe/placement.hpp"

namespace moesim {

struct LayerTraffic {
  int gpus = 0;
  std::vector<std::int64_t> copies;          // [src * gpus + dst] token copies; src == dst is local
  std::vector<std::vector<int>> slot_tokens; // [gpu][slot] token-expert assignments to compute
  std::vector<std::int64_t> received;        // [gpu] token-expert assignments computed there
  std::vector<std::int64_t> expert_load;     // [expert] assignments (over all replicas)
  std::int64_t copies_from(int src, int dst) const {
    return copies[static_cast<std::size_t>(src) * static_cast<std::size_t>(gpus) + static_cast<std::size_t>(dst)];
  }
};

// Which replica serves a token: one on the source GPU, else one on the same host, else the
// replicas in turn by token index (round robin).
class MoeLayerPlanner {
 public:
  // gpu_host[g] = host id of GPU g (from the topology).
  MoeLayerPlanner(const Placement& placement, std::vector<int> gpu_host, bool dedup);

  // experts_by_src[g] = the gate's output for source GPU g (tokens * top_k ids, token-major).
  void plan(int moe_layer, const std::vector<std::vector<int>>& experts_by_src, int top_k,
            LayerTraffic& out) const;

 private:
  int pick_replica(int layer, int expert, int src_gpu, std::int64_t token) const;
  const Placement& placement_;
  std::vector<int> gpu_host_;
  bool dedup_;
};

}  // namespace moesim
