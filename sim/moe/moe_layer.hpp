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

// How an expert with several replicas R (replicas(layer, e), k = |R|) splits its T assignments
// in one plan() call, balanced the way EPLB-style serving spreads a logical expert over its
// physical copies: replica i serves exactly T / k, one more for the T mod k replicas from index
// e mod k on (cyclically). Replicas fill those shares locality first: from their own GPU, then
// from their host (gpu_host), then their NVLink domain (when given), then from anywhere; in each
// of the last three steps a source's remaining picks spread evenly over the replicas that still
// have room there (sources in GPU order). So locality never unbalances: a source whose picks
// exceed what its local replicas may take sends the rest on, and every replica serves the even
// share the redundant packer assumed. A source's tokens take its quotas in turn. With one replica
// it serves everything. The placement must outlive the planner.
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

  // Where an assignment is served.
  struct Target {
    int gpu;   // < 0: the expert has several replicas; slot = gpus * its index among the layer's such experts
    int slot;  // the slot on that GPU, numbered across the layer's GPUs (slot_base_ + local slot)
  };
  struct Quota {  // n assignments of one (replicated expert, source) go to target
    Target target;
    int n;
  };

 private:
  void pad(int moe_layer, const std::vector<std::int64_t>& pad_slots, int* slot_counts, LayerTraffic& out) const;
  // The split above for one layer's replicated experts: quotas bucketed per (expert, source), with
  // head[j * gpus + src] the first quota of replicated expert j for source src.
  void split_replicas(int moe_layer, const std::vector<std::vector<int>>& experts_by_src, std::vector<int>& head,
                      std::vector<Quota>& quotas) const;
  const Placement& placement_;
  std::vector<int> gpu_host_;
  bool dedup_;
  std::vector<int> gpu_domain_;
  std::vector<std::uint64_t> domain_bit_;  // [gpu] 1 << domain, when at most 64 domains
  int domains_ = 0;
  int experts_;
  std::vector<int> slot_base_;  // [layer * (gpus + 1) + gpu]: the layer's slots on GPUs before gpu
  std::vector<Target> single_;  // [layer * experts + expert]: the replica, or gpu < 0 -> replicated
  // Replicated experts (more than one replica), numbered m across layers; layer l has
  // [rep_first_[l], rep_first_[l + 1]). Expert m's replicas are rr_[rr_first_[m], rr_first_[m + 1]).
  std::vector<int> rep_first_;
  std::vector<int> rep_expert_;  // [m] expert id
  std::vector<int> rr_first_;
  std::vector<Target> rr_;  // replicas of replicated experts, in placement order
  // Locality groups as lists of GPUs in GPU order: group_first_[kind][i] .. [i + 1] in
  // group_gpus_[kind]; gpu_group_[kind][gpu] is its group. kind 0: host, 1: NVLink domain.
  std::vector<int> group_first_[2], group_gpus_[2], gpu_group_[2];
};

}  // namespace moesim
