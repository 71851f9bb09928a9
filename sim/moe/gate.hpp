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

// Popularity of rank r (0 = hottest) is 1 / (r + 1)^s (uniform: s = 0); a token draws its top_k
// experts one after another proportional to popularity among those it has not taken yet. Rank r
// is expert r, or with layer_variation a seeded per-layer permutation of the experts.
// Throws InputError when the spec does not fit: kind not uniform|zipf, zipf_exponent outside
// [0, 20], experts < 1, top_k outside [1, experts], moe_layers < 1.
std::unique_ptr<Gate> make_synthetic_gate(const GateSpec& spec, int experts, int top_k, int moe_layers,
                                          std::uint64_t seed);

}  // namespace moesim
