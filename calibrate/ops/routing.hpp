#pragma once
// Token -> expert routing that drives permute, experts and combine in the calibrator: from a
// synthetic gate (moesim's Gate: Zipf popularity over experts, top_k distinct experts per token)
// or from one step of a routing trace. Assumption: the gate weights' values do not change kernel
// times, so where the source has none they are seeded random positive numbers summing to 1.
#include <cstdint>
#include <string>
#include <vector>

#include "moe/gate.hpp"

namespace moesim::calib {

struct Routing {
  int tokens = 0;
  int top_k = 0;
  int experts = 0;
  std::vector<std::int32_t> ids;  // [tokens][top_k], distinct per token
  std::vector<float> weights;     // [tokens][top_k]
  std::string label;              // "uniform", "zipf:1.2" or the trace file
  double skew = 0;                // Zipf exponent (0 = uniform; 0 for a trace)

  std::vector<int> counts() const;  // tokens per expert
};

// `spec` from parse_gate_arg (uniform | zipf); one MoE layer, one source rank, step 0.
Routing synthetic_routing(const GateSpec& spec, const std::string& label, double skew, int experts, int top_k,
                          int tokens, std::uint64_t seed);

// The first `tokens` tokens of MoE layer `layer` of step `step` (ranks concatenated in order).
// Throws InputError when the trace's experts / top_k differ from the model's, it is counts-only,
// the step or layer does not exist, or it holds fewer tokens.
Routing trace_routing(const std::string& path, int experts, int top_k, int tokens, std::uint64_t step, int layer,
                      std::uint64_t seed);

}  // namespace moesim::calib
