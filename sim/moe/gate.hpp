#pragma once
// Gate: token -> top_k expert selection for one (step, MoE layer, source GPU). Synthetic gates draw
// from a seeded popularity distribution over experts; each (step, layer, GPU) has its own random
// stream, so results do not depend on the order in which the simulator asks.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moesim {

struct GateSpec {
  std::string kind = "uniform";  // uniform | zipf
  double zipf_exponent = 1.0;    // popularity of the r-th most popular expert ~ 1 / r^s
  // Per-layer variation: each MoE layer ranks its experts by its own seeded permutation, so the
  // hot experts differ between layers. Off: expert 0 is the most popular in every layer.
  bool layer_variation = false;
};

class Gate {
 public:
  virtual ~Gate() = default;
  // Fills `experts` with tokens * top_k expert ids, token-major; a token's top_k ids are distinct.
  virtual void assign(int step, int moe_layer, int src_gpu, int tokens, std::vector<int>& experts) = 0;
  virtual int experts() const = 0;
  virtual int top_k() const = 0;
};

// Throws InputError when the spec does not fit (top_k > experts, exponent < 0, unknown kind).
std::unique_ptr<Gate> make_synthetic_gate(const GateSpec& spec, int experts, int top_k, int moe_layers,
                                          std::uint64_t seed);

}  // namespace moesim
