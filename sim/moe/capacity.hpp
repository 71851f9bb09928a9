#pragma once
// Expert capacity (GShard, Switch, Megatron): each expert of an MoE layer takes at most C
// assignments of a micro-batch, C = ceil(capacity_factor * T * top_k / E) with T the tokens of
// all source GPUs; the rest are dropped (neither dispatched nor computed), or, with padding, each
// source sends every expert a fixed buffer. Assumes the gate lists a token's picks best first.
#include <cstdint>
#include <vector>

#include "spec/gate_spec.hpp"

namespace moesim {

// One MoE layer of one micro-batch after the limit.
struct CapacityTally {
  std::vector<std::int64_t> routed;     // [expert] assignments the gate made
  std::vector<std::int64_t> kept;       // [expert] assignments dispatched and computed
  std::vector<std::int64_t> pad_slots;  // pad: [source GPU] C_local, its buffer per expert; else empty
  std::int64_t capacity = 0;            // C (drop policies; 0 under pad)
};

// ceil(factor * tokens * top_k / experts).
std::int64_t expert_capacity(double factor, std::int64_t tokens, int top_k, int experts);

// The policies (spec/gate_spec.hpp's CapacityPolicy), over picks taken GPU after GPU, token after
// token, pick after pick ("position"):
//   drop_by_position: an expert keeps its first C assignments by position.
//   drop_by_score:    an expert keeps those with the lowest pick index first, ties by position.
//   pad:              each source GPU g has C_local(g) = ceil(factor * T_g * top_k / E) slots per
//                     expert, keeps by score within them and pads the rest: the planner sends
//                     every destination experts_on(dst) * C_local(g) copies (no dedup) and every
//                     expert slot computes sum_g C_local(g) tokens (MoeLayerPlanner::plan's pad).
//                     A replicated expert's slots each get a buffer; the capacity per (source,
//                     expert) stays C_local.
class CapacityLimiter {
 public:
  // factor 0 = off (apply() only counts); else > 0. Throws InputError for a negative or NaN
  // factor, experts or top_k < 1.
  CapacityLimiter(double factor, CapacityPolicy policy, int experts, int top_k);
  bool on() const { return factor_ > 0.0; }
  CapacityPolicy policy() const { return policy_; }

  // picks_by_src[g]: source GPU g's gate output for the micro-batch (tokens * top_k ids,
  // token-major, best pick first; empty for a GPU without tokens). Dropped picks become kDroppedPick
  // (moe_layer.hpp), which the planner skips. Fills `out` (its capacity reused).
  void apply(std::vector<std::vector<int>>& picks_by_src, CapacityTally& out);

 private:
  double factor_;
  CapacityPolicy policy_;
  int experts_, top_k_;
  std::vector<std::int64_t> count_;  // scratch: [expert] assignments taken so far
};

}  // namespace moesim
