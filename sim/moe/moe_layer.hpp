#pragma once
// MoE layer plan: from the gate's choices on every source GPU and the placement, the token copies
// each GPU sends each other GPU in dispatch (one per token and destination GPU when deduplicating,
// like DeepEP; one per token-expert otherwise), the tokens per local expert slot on each GPU, and
// the per-expert load. Combine sends the same copies back, so it needs no matrix of its own.
#include <cstdint>
#include <limits>
#include <vector>

#include "moe/placement.hpp"

namespace moesim {

// A pick dropped over expert capacity (moe/capacity.hpp): plan() skips it. Not -1, so that a bad
// id from a gate still fails loudly.
inline constexpr int kDroppedPick = std::numeric_limits<int>::min();

struct LayerTraffic {
  int gpus = 0;
  std::vector<std::int64_t> copies;           // [src * gpus + dst] token copies; src == dst is local
  int domains = 0;                            // NVLink domains, when the planner was given them
  std::vector<std::int64_t> domain_copies;    // [src * domains + domain] tokens needing that domain
  std::vector<std::vector<int>> slot_tokens;  // [gpu][slot] token-expert assignments to compute
  std::vector<std::int64_t> received;         // [gpu] token-expert assignments computed there
  std::vector<std::int64_t> expert_load;      // [expert] assignments (over all replicas)
  std::int64_t copies_from(int src, int dst) const {
    return copies[static_cast<std::size_t>(src) * static_cast<std::size_t>(gpus) + static_cast<std::size_t>(dst)];
  }
  std::int64_t domain_copies_from(int src, int domain) const {
    return domain_copies[static_cast<std::size_t>(src) * static_cast<std::size_t>(domains) +
                         static_cast<std::size_t>(domain)];
  }
};

// Which replica serves token t (its index in source GPU g's batch, 0-based) for expert e, whose
// replicas are R = replicas(layer, e), n = |R|:
//   1. the replica on g itself, if any;
//   2. else the first replica in R whose GPU is on g's host (gpu_host);
//   3. else R[(t + e) % n] (round robin over tokens, offset by expert so experts spread).
// With one replica all three give it. The placement must outlive the planner.
class MoeLayerPlanner {
 public:
  // gpu_host[g] = host id of GPU g (from the topology); its size must be placement.gpus().
  // gpu_domain: empty, or GPU g's NVLink domain numbered 0.. (then plan() also counts each
  // token once per destination domain: LayerTraffic::domain_copies).
  MoeLayerPlanner(const Placement& placement, std::vector<int> gpu_host, bool dedup, std::vector<int> gpu_domain = {});

  // experts_by_src[g] = the gate's output for source GPU g (tokens * top_k ids, token-major); an id
  // of kDroppedPick is a pick dropped over capacity: skipped, so a token sends no copy
  // to a GPU whose every pick from it was dropped. Resizes and zeroes `out`, reusing its capacity.
  // pad_slots (capacity padding): [src] buffer per expert slot; then src sends every GPU d
  // experts_on(d) * pad_slots[src] copies (no dedup) and every slot computes sum(pad_slots).
  // Throws Error on a wrong GPU count, a batch not a multiple of top_k, or an expert id out of range.
  void plan(int moe_layer, const std::vector<std::vector<int>>& experts_by_src, int top_k, LayerTraffic& out,
            const std::vector<std::int64_t>* pad_slots = nullptr) const;

  // Where an assignment is served; the cases above, in flat tables.
  struct Target {
    int gpu;   // < 0: the expert has several replicas, look up by source GPU (slot = its index)
    int slot;  // the slot on that GPU, numbered across the layer's GPUs (slot_base_ + local slot)
  };

 private:
  // The rule in plain code (reference); plan() uses its precomputed form in the tables below.
  int pick_replica(int layer, int expert, int src_gpu, std::int64_t token) const;
  int fixed_replica(int layer, int expert, int src_gpu) const;  // rule 1 or 2; -1: round robin
  void pad(int moe_layer, const std::vector<std::int64_t>& pad_slots, int* slot_counts, LayerTraffic& out) const;
  const Placement& placement_;
  std::vector<int> gpu_host_;
  bool dedup_;
  std::vector<int> gpu_domain_;
  std::vector<std::uint64_t> domain_bit_;  // [gpu] 1 << domain, when at most 64 domains
  int domains_ = 0;
  int experts_;
  std::vector<int> slot_base_;  // [layer * (gpus + 1) + gpu]: the layer's slots on GPUs before gpu
  std::vector<Target> single_;  // [layer * experts + expert]: the replica, or gpu < 0 -> replicated
  // Per (layer, expert) with more than one replica ("replicated index" m): its replicas are
  // rr_[rr_first_[m], rr_first_[m] + rr_count_[m]).
  std::vector<int> rr_first_;
  std::vector<int> rr_count_;
  std::vector<Target> by_src_;  // [m * gpus + src]: rule 1/2, or gpu < 0 -> rule 3
  std::vector<Target> rr_;      // replicas of replicated experts, in placement order
};

}  // namespace moesim
