// Synthetic gates: uniform and Zipf popularity over experts, top_k distinct experts per token,
// assuming experts are chosen one after another proportional to popularity (without replacement).
#include "moe/gate.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace moesim {
namespace {

// Stream tag for the per-layer rank->expert permutations; far above any step index, so it never
// collides with the (step, layer, gpu) streams of assign().
constexpr std::uint64_t kPermutationTag = 0x7065726d75746531ULL;
constexpr std::uint64_t kOne32 = std::uint64_t{1} << 32;

class SyntheticGate final : public Gate {
 public:
  SyntheticGate(std::vector<double> weight, bool layer_variation, int top_k, int moe_layers, std::uint64_t seed)
      : experts_(static_cast<int>(weight.size())),
        top_k_(top_k),
        moe_layers_(moe_layers),
        seed_(seed),
        weight_(std::move(weight)),
        stamp_(weight_.size(), 0) {
    build_alias();
    build_rank_maps(layer_variation);
  }

  int experts() const override { return experts_; }
  int top_k() const override { return top_k_; }

  void assign(int step, int moe_layer, int src_gpu, int tokens, std::vector<int>& experts) override {
    if (tokens < 0) throw Error(fmt::format("gate: negative token count {}", tokens));
    if (moe_layer < 0 || moe_layer >= moe_layers_)
      throw Error(fmt::format("gate: MoE layer {} out of range [0, {})", moe_layer, moe_layers_));
    experts.resize(static_cast<std::size_t>(tokens) * static_cast<std::size_t>(top_k_));
    Rng rng = Rng::derived(seed_, static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(moe_layer),
                           static_cast<std::uint64_t>(src_gpu));
    const int* rank_to_expert =
        rank_to_expert_.data() + (per_layer_ ? static_cast<std::size_t>(moe_layer) * static_cast<std::size_t>(experts_) : 0);
    const int max_rejections = 32 * top_k_;
    int* out = experts.data();
    for (int t = 0; t < tokens; ++t) {
      const std::uint32_t clock = next_clock();
      int rejections = 0;
      for (int k = 0; k < top_k_; ++k) {
        int rank;
        for (;;) {
          // Too many duplicates (a very skewed popularity): finish this token exactly.
          if (rejections > max_rejections) {
            rank = exact_rank(rng, clock);
            break;
          }
          rank = alias_draw(rng);
          if (stamp_[static_cast<std::size_t>(rank)] != clock) break;
          ++rejections;
        }
        stamp_[static_cast<std::size_t>(rank)] = clock;
        *out++ = rank_to_expert[rank];
      }
    }
  }

 private:
  // Vose's alias method: column from the high 32 bits, acceptance from the low 32 bits.
  int alias_draw(Rng& rng) const {
    const std::uint64_t x = rng.next_u64();
    const auto col = static_cast<std::size_t>(((x >> 32) * static_cast<std::uint64_t>(experts_)) >> 32);
    const AliasEntry& a = alias_[col];
    // Branch-free select (mask): the acceptance test is a coin flip the predictor cannot learn.
    const int keep = -static_cast<int>((x & 0xffffffffULL) < a.threshold);  // all ones: accept
    return a.alias ^ ((static_cast<int>(col) ^ a.alias) & keep);
  }

  // Exact draw over the ranks not yet taken by this token (linear scan).
  int exact_rank(Rng& rng, std::uint32_t clock) const {
    double total = 0;
    int last_free = -1;
    for (int r = 0; r < experts_; ++r) {
      if (stamp_[static_cast<std::size_t>(r)] == clock) continue;
      total += weight_[static_cast<std::size_t>(r)];
      last_free = r;
    }
    double u = rng.uniform() * total;
    for (int r = 0; r < experts_; ++r) {
      if (stamp_[static_cast<std::size_t>(r)] == clock) continue;
      u -= weight_[static_cast<std::size_t>(r)];
      if (u < 0) return r;
    }
    return last_free;  // rounding ran past the end; top_k <= experts guarantees one is free
  }

  std::uint32_t next_clock() {
    if (++clock_ == 0) {  // wrapped: old stamps could alias the new clock
      std::fill(stamp_.begin(), stamp_.end(), 0u);
      clock_ = 1;
    }
    return clock_;
  }

  void build_alias() {
    const std::size_t n = weight_.size();
    double sum = 0;
    for (double w : weight_) sum += w;
    std::vector<double> scaled(n);
    for (std::size_t i = 0; i < n; ++i) scaled[i] = weight_[i] * static_cast<double>(n) / sum;
    alias_.resize(n);
    for (std::size_t i = 0; i < n; ++i) alias_[i] = {kOne32, static_cast<int>(i)};
    std::vector<std::size_t> small, large;
    for (std::size_t i = 0; i < n; ++i) (scaled[i] < 1.0 ? small : large).push_back(i);
    while (!small.empty() && !large.empty()) {
      const std::size_t s = small.back();
      small.pop_back();
      const std::size_t l = large.back();
      alias_[s] = {static_cast<std::uint64_t>(std::llround(scaled[s] * static_cast<double>(kOne32))), static_cast<int>(l)};
      scaled[l] -= 1.0 - scaled[s];
      if (scaled[l] < 1.0) {
        large.pop_back();
        small.push_back(l);
      }
    }
    // Leftovers (either list) are 1 up to rounding: always accept their own column.
  }

  void build_rank_maps(bool layer_variation) {
    per_layer_ = layer_variation;
    const std::size_t n = static_cast<std::size_t>(experts_);
    const int maps = per_layer_ ? moe_layers_ : 1;
    rank_to_expert_.resize(n * static_cast<std::size_t>(maps));
    for (int l = 0; l < maps; ++l) {
      int* map = rank_to_expert_.data() + static_cast<std::size_t>(l) * n;
      for (std::size_t i = 0; i < n; ++i) map[i] = static_cast<int>(i);
      if (!per_layer_) break;
      Rng rng = Rng::derived(seed_, kPermutationTag, static_cast<std::uint64_t>(l));
      for (std::size_t i = n - 1; i > 0; --i) {  // Fisher-Yates
        const std::size_t j = rng.below(static_cast<std::uint32_t>(i + 1));
        std::swap(map[i], map[j]);
      }
    }
  }

  int experts_;
  int top_k_;
  int moe_layers_;
  std::uint64_t seed_;
  std::vector<double> weight_;            // popularity by rank (unnormalised)
  struct AliasEntry {
    std::uint64_t threshold;  // accept the column when the low 32 random bits are below this (<= 2^32)
    int alias;                // else take this rank
  };
  std::vector<AliasEntry> alias_;
  bool per_layer_ = false;
  std::vector<int> rank_to_expert_;  // [layer * experts + rank], or one map when !per_layer_
  std::vector<std::uint32_t> stamp_; // [rank] == clock_: already chosen by the current token
  std::uint32_t clock_ = 0;
};

}  // namespace

std::unique_ptr<Gate> make_synthetic_gate(const GateSpec& spec, int experts, int top_k, int moe_layers,
                                          std::uint64_t seed) {
  if (spec.kind != "uniform" && spec.kind != "zipf")
    throw InputError(fmt::format("gate: unknown kind '{}' (valid: uniform, zipf)", spec.kind));
  if (experts < 1) throw InputError(fmt::format("gate: experts must be >= 1, got {}", experts));
  if (top_k < 1 || top_k > experts)
    throw InputError(fmt::format("gate: top_k must be in [1, experts = {}], got {}", experts, top_k));
  if (moe_layers < 1) throw InputError(fmt::format("gate: MoE layers must be >= 1, got {}", moe_layers));
  const double s = spec.zipf_exponent;
  if (!(s >= 0.0 && s <= 20.0))  // also rejects NaN
    throw InputError(fmt::format("gate: zipf_exponent must be in [0, 20], got {}", s));
  std::vector<double> weight(static_cast<std::size_t>(experts), 1.0);
  if (spec.kind == "zipf") {
    for (int r = 0; r < experts; ++r) weight[static_cast<std::size_t>(r)] = std::pow(static_cast<double>(r + 1), -s);
  }
  // Uniform is the alias table of equal weights: every column accepts, one code path.
  const bool variation = spec.kind == "zipf" && spec.layer_variation;
  return std::make_unique<SyntheticGate>(std::move(weight), variation, top_k, moe_layers, seed);
}

}  // namespace moesim
