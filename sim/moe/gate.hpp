#pragma once
// Gate: token -> top_k expert selection for one (step, MoE layer, source GPU). Synthetic gates draw
// from a seeded popularity distribution over experts; each (step, layer, GPU) has its own random
// stream, so results do not depend on the order in which the simulator asks.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "spec/gate_spec.hpp"

namespace moesim {

class Gate {
 public:
  virtual ~Gate() = default;
  // Fills `experts` with tokens * top_k expert ids, token-major; a token's top_k ids are distinct.
  virtual void assign(int step, int moe_layer, int src_gpu, int tokens, std::vector<int>& experts) = 0;
  virtual int experts() const = 0;
  virtual int top_k() const = 0;
};

// A token draws its top_k experts one after another proportional to popularity (above) among
// those it has not taken yet. Popularity tables are built once per (epoch, layer) and cached;
// steps asked in increasing order advance the drift one epoch at a time, an earlier step than the
// last one asked recomputes from epoch 0 (same result, slower). `ranks` = number of source ranks
// (GPUs); with rank_locality > 0, assign() requires 0 <= src_gpu < ranks.
// Throws InputError when the spec does not fit: kind not uniform|zipf|lognormal, a field outside
// its range above (NaN included), experts < 1, top_k outside [1, experts], moe_layers < 1,
// ranks < 1, a group limit that does not fit (check_group_limit).
std::unique_ptr<Gate> make_synthetic_gate(const GateSpec& spec, int experts, int top_k, int moe_layers,
                                          std::uint64_t seed, int ranks = 1);

}  // namespace moesim
