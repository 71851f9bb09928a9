#pragma once
// Statistics of a routing trace, per MoE layer: expert load balance, the hottest experts, the
// most co-selected expert pairs and how much the load distribution drifts from step to step.
#include <cstdint>
#include <string>
#include <vector>

#include "trace/trace.hpp"

namespace moesim {

struct ExpertShare {
  int expert = 0;
  std::uint64_t count = 0;  // assignments to this expert, all steps and ranks
  double share = 0;         // count / the layer's assignments
};

struct ExpertPair {
  int a = 0, b = 0;         // a < b
  std::uint64_t count = 0;  // tokens whose top_k contained both
  double share = 0;         // count / the layer's tokens
};

struct LayerTraceStats {
  int layer = 0;
  std::uint64_t tokens = 0;       // token-level: tokens routed; counts-only: assignments / top_k (floor)
  std::uint64_t assignments = 0;  // (token, expert) selections, summed over steps and ranks
  // Per-expert load = assignments summed over steps and ranks; statistics over the layer's experts.
  std::uint64_t load_max = 0;
  double load_mean = 0;                  // assignments / experts
  double load_max_over_mean = 0;         // 0 when the layer is empty
  double load_cv = 0;                    // population standard deviation / mean; 0 when empty
  int experts_unused = 0;                // experts with no assignment at all
  std::vector<ExpertShare> top_experts;  // by count, descending (ties: lower id first); count > 0 only
  std::vector<ExpertPair> top_pairs;     // token-level traces only; same ordering
  // Total-variation distance 0.5 * sum_e |p_s(e) - p_s'(e)| between the load distributions of
  // consecutive steps (0 = identical, 1 = disjoint); steps where the layer has no load are skipped.
  double drift_tv_mean = 0;
  double drift_tv_max = 0;
  std::uint64_t drift_pairs = 0;  // how many step pairs went into the drift figures
};

struct TraceStats {
  std::string path;
  TraceHeader header;
  std::uint64_t steps = 0;
  std::uint64_t tokens = 0;       // summed over layers
  std::uint64_t assignments = 0;  // summed over layers
  bool pairs_available = false;   // false for counts-only traces (no per-token ids)
  std::vector<LayerTraceStats> layers;
  int worst_layer = -1;  // the layer with the largest load_max_over_mean
};

// Reads the whole trace (from its first step: the reader is rewound) one step at a time.
// Memory: per layer, one expert-load vector for the totals and one for the previous step, plus
// the pair counts: a flat upper-triangular array of experts * (experts - 1) / 2 counters when
// experts <= 1024 and all layers' arrays fit in 256 MiB, otherwise a hash map of seen pairs.
TraceStats compute_trace_stats(TraceReader& reader, int top_pairs = 10, int top_experts = 8);

}  // namespace moesim
