#pragma once
// Writes a routing trace from a gate (synthetic generators, or another trace being re-sampled):
// every (step, MoE layer, rank) block gets `tokens_per_rank` tokens of top_k expert ids.
#include <cstdint>
#include <string>

#include "moe/gate.hpp"
#include "trace/trace.hpp"

namespace moesim {

struct TraceGenSpec {
  int steps = 1;
  int layers = 1;  // MoE layers
  int ranks = 1;
  int tokens_per_rank = 1;
};

// Returns the number of token-expert assignments written.
std::uint64_t generate_trace(Gate& gate, const TraceGenSpec& spec, const std::string& out_path);

}  // namespace moesim
