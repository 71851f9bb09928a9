// Synthetic gates: uniform, Zipf and log-normal popularity over experts (with drift, layer
// correlation and per-rank locality), top_k distinct experts per token, assuming experts are
// chosen one after another proportional to popularity (without replacement).
#include "moe/gate.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "moe/gate_popularity.hpp"
#include "moe/group_routing.hpp"

namespace moesim {
namespace {

constexpr std::uint64_t kOne32 = std::uint64_t{1} << 32;

struct AliasEntry {
  std::uint64_t threshold;  // accept the column when the low 32 random bits are below this (<= 2^32)
  int alias;                // else take this slot
};

// Vose's alias method over slot weights; the scratch vectors are reused so rebuilding per epoch
// does not allocate.
class AliasBuilder {
 public:
  void build(const std::vector<double>& weight, std::vector<AliasEntry>& alias) {
    const std::size_t n = weight.size();
    double sum = 0;
    for (double w : weight) sum += w;
    scaled_.resize(n);
    for (std::size_t i = 0; i < n; ++i) scaled_[i] = weight[i] * static_cast<double>(n) / sum;
    alias.resize(n);
    for (std::size_t i = 0; i < n; ++i) alias[i] = {kOne32, static_cast<int>(i)};
    small_.clear();
    large_.clear();
    for (std::size_t i = 0; i < n; ++i) (scaled_[i] < 1.0 ? small_ : large_).push_back(i);
    while (!small_.empty() && !large_.empty()) {
      const std::size_t s = small_.back();
      small_.pop_back();
      const std::size_t l = large_.back();
      alias[s] = {static_cast<std::uint64_t>(std::llround(scaled_[s] * static_cast<double>(kOne32))),
                  static_cast<int>(l)};
      scaled_[l] -= 1.0 - scaled_[s];
      if (scaled_[l] < 1.0) {
        large_.pop_back();
        small_.push_back(l);
      }
    }
    // Leftovers (either list) are 1 up to rounding: always accept their own column.
  }

 private:
  std::vector<double> scaled_;
  std::vector<std::size_t> small_, large_;
};

class SyntheticGate final : public Gate {
 public:
  SyntheticGate(const PopularityParams& params, int top_k, int ranks, double rank_locality, int groups,
                int groups_per_token)
      : experts_(params.experts),
        top_k_(top_k),
        moe_layers_(params.moe_layers),
        ranks_(ranks),
        seed_(params.seed),
        drifts_(params.drift_per_step > 0.0),
        local_(rank_locality),
        groups_(groups),
        groups_per_token_(groups_per_token),
        field_(params),
        stamp_(static_cast<std::size_t>(params.experts), 0) {
    const std::size_t layers = static_cast<std::size_t>(field_.layers());
    alias_.resize(field_.fixed_weights() ? 1 : layers);
    alias_epoch_.assign(alias_.size(), -1);
  }

  int experts() const override { return experts_; }
  int top_k() const override { return top_k_; }

  void assign(int step, int moe_layer, int src_gpu, int tokens, std::vector<int>& experts) override {
    if (tokens < 0) throw Error(fmt::format("gate: negative token count {}", tokens));
    if (moe_layer < 0 || moe_layer >= moe_layers_)
      throw Error(fmt::format("gate: MoE layer {} out of range [0, {})", moe_layer, moe_layers_));
    if (drifts_ && step < 0) throw Error(fmt::format("gate: negative step {} with popularity drift", step));
    if (local_ > 0.0 && (src_gpu < 0 || src_gpu >= ranks_))
      throw Error(fmt::format("gate: source rank {} out of range [0, {}) with rank_locality", src_gpu, ranks_));

    field_.seek(field_.epoch_of(step));
    const int layer = field_.layers() == 1 ? 0 : moe_layer;
    const int* slot_to_expert = field_.slot_to_expert(layer).data();
    const std::vector<double>& weight = field_.weights(layer);
    const AliasEntry* alias = alias_for(layer, weight);

    experts.resize(static_cast<std::size_t>(tokens) * static_cast<std::size_t>(top_k_));
    Rng rng = Rng::derived(seed_, static_cast<std::uint64_t>(step), static_cast<std::uint64_t>(moe_layer),
                           static_cast<std::uint64_t>(src_gpu));
    const Table table{alias, weight.data(), slot_to_expert};
    const int shift = static_cast<int>(static_cast<std::int64_t>(src_gpu) * experts_ / ranks_);
    if (groups_ > 0) {
      draw_grouped(rng, table, shift, tokens, experts.data());
    } else if (local_ > 0.0) {
      // Rank-specific popularity = the layer's popularity rotated by shift (see gate.hpp).
      draw<true>(rng, table, shift, tokens, experts.data());
    } else {
      draw<false>(rng, table, 0, tokens, experts.data());
    }
  }

 private:
  struct Table {
    const AliasEntry* alias;
    const double* weight;  // by slot
    const int* slot_to_expert;
  };

  // The hot loop; kLocal = false draws exactly the stream the gate has always drawn.
  template <bool kLocal>
  void draw(Rng& rng, const Table& table, int shift, int tokens, int* out) {
    const int n = experts_;  // locals: stores through `out` could otherwise alias the members
    const int top_k = top_k_;
    const double local = local_;
    std::uint32_t* stamp = stamp_.data();
    const int max_rejections = 32 * top_k;
    for (int t = 0; t < tokens; ++t) {
      const std::uint32_t clock = next_clock();
      int offset = 0;
      // No coin at 1: every token is local.
      if constexpr (kLocal) offset = (local >= 1.0 || rng.uniform() < local) ? shift : 0;
      const auto put = [&](int slot) {
        stamp[slot] = clock;
        int e = table.slot_to_expert[slot];
        if constexpr (kLocal) {
          e += offset;
          if (e >= n) e -= n;
        }
        *out++ = e;
      };
      int rejections = 0;
      int k = 0;
      for (; k < top_k; ++k) {
        int slot = alias_draw(rng, table.alias, n);
        // A duplicate (rare unless popularity is skewed) draws again, out of the common path.
        if (stamp[slot] == clock) {
          slot = redraw(rng, table, clock, rejections, max_rejections);
          if (rejections > max_rejections) {  // too many duplicates: this slot and the rest exactly
            put(slot);
            ++k;
            break;
          }
        }
        put(slot);
      }
      for (; k < top_k; ++k) put(exact_slot(rng, clock, table.weight));
    }
  }

  // Group-limited draw (gate_spec.hpp): groups by an exact scan over their masses (groups are
  // few); experts by rejection from the popularity's alias table (a draw outside the chosen groups
  // or already taken is redrawn: exactly popularity restricted to what is left), with an exact
  // scan of the candidates after too many rejections.
  void draw_grouped(Rng& rng, const Table& table, int shift, int tokens, int* out) {
    const int n = experts_;
    const int size = n / groups_;
    const int variants = local_ > 0.0 ? 2 : 1;  // the layer's popularity, and rotated by shift
    expert_weight_.assign(static_cast<std::size_t>(variants * n), 0.0);
    group_mass_.assign(static_cast<std::size_t>(variants * groups_), 0.0);
    for (int v = 0; v < variants; ++v)
      for (int s = 0; s < n; ++s) {
        int e = table.slot_to_expert[s] + (v == 1 ? shift : 0);
        if (e >= n) e -= n;
        expert_weight_[static_cast<std::size_t>(v * n + e)] = table.weight[s];
        group_mass_[static_cast<std::size_t>(v * groups_ + e / size)] += table.weight[s];
      }
    chosen_.assign(static_cast<std::size_t>(groups_), 0);
    taken_.resize(static_cast<std::size_t>(n));
    allowed_.resize(static_cast<std::size_t>(n));
    const int max_rejections = 32;
    for (int t = 0; t < tokens; ++t) {
      int v = 0;
      if (local_ > 0.0) v = (local_ >= 1.0 || rng.uniform() < local_) ? 1 : 0;
      const int offset = v == 1 ? shift : 0;
      mass_left_.assign(group_mass_.begin() + v * groups_, group_mass_.begin() + (v + 1) * groups_);
      std::fill(chosen_.begin(), chosen_.end(), 0);
      const std::uint32_t clock = next_group_clock();
      for (int i = 0; i < groups_per_token_; ++i) {
        const int g = weighted_pick(rng, mass_left_.data(), groups_);
        mass_left_[static_cast<std::size_t>(g)] = 0.0;
        chosen_[static_cast<std::size_t>(g)] = 1;
        // Per expert, so the rejection loop below needs no division by the group size.
        std::fill_n(allowed_.begin() + static_cast<std::ptrdiff_t>(g) * size, size, clock);
      }
      for (int k = 0; k < top_k_; ++k) {
        int e = -1;
        for (int tries = 0; tries < max_rejections && e < 0; ++tries) {
          int d = table.slot_to_expert[alias_draw(rng, table.alias, n)] + offset;
          if (d >= n) d -= n;
          if (allowed_[static_cast<std::size_t>(d)] == clock) e = d;
        }
        if (e < 0) e = exact_grouped(rng, expert_weight_.data() + static_cast<std::size_t>(v * n), size, clock);
        taken_[static_cast<std::size_t>(e)] = clock;
        allowed_[static_cast<std::size_t>(e)] = 0;  // clocks start at 1
        *out++ = e;
      }
    }
  }

  // Exact draw over the chosen groups' experts the token has not taken.
  int exact_grouped(Rng& rng, const double* weight, int size, std::uint32_t clock) {
    candidate_weight_.assign(static_cast<std::size_t>(experts_), 0.0);
    for (int e = 0; e < experts_; ++e)
      if (chosen_[static_cast<std::size_t>(e / size)] && taken_[static_cast<std::size_t>(e)] != clock)
        candidate_weight_[static_cast<std::size_t>(e)] = weight[e];
    return weighted_pick(rng, candidate_weight_.data(), experts_);
  }

  std::uint32_t next_group_clock() {
    if (++group_clock_ == 0) {  // wrapped: old marks could alias the new clock
      std::fill(taken_.begin(), taken_.end(), 0u);
      std::fill(allowed_.begin(), allowed_.end(), 0u);
      group_clock_ = 1;
    }
    return group_clock_;
  }

  // Index drawn proportional to weight[0, n) (zero weights never; rounding falls on the last
  // positive one).
  static int weighted_pick(Rng& rng, const double* weight, int n) {
    double total = 0;
    int last = 0;
    for (int i = 0; i < n; ++i) {
      total += weight[i];
      if (weight[i] > 0.0) last = i;
    }
    double u = rng.uniform() * total;
    for (int i = 0; i < n; ++i) {
      if (weight[i] <= 0.0) continue;
      u -= weight[i];
      if (u < 0) return i;
    }
    return last;
  }

  // After a duplicate: draws until a slot this token has not taken comes up, or, past
  // `max_rejections` duplicates in the token, takes one exactly.
  int redraw(Rng& rng, const Table& table, std::uint32_t clock, int& rejections, int max_rejections) const {
    const std::uint32_t* stamp = stamp_.data();
    for (;;) {
      if (++rejections > max_rejections) return exact_slot(rng, clock, table.weight);
      const int slot = alias_draw(rng, table.alias, experts_);
      if (stamp[slot] != clock) return slot;
    }
  }

  const AliasEntry* alias_for(int layer, const std::vector<double>& weight) {
    const std::size_t i = field_.fixed_weights() ? 0 : static_cast<std::size_t>(layer);
    const std::int64_t epoch = field_.fixed_weights() ? 0 : field_.epoch();
    if (alias_epoch_[i] != epoch) {
      builder_.build(weight, alias_[i]);
      alias_epoch_[i] = epoch;
    }
    return alias_[i].data();
  }

  // Alias draw: column from the high 32 bits, acceptance from the low 32 bits.
  static int alias_draw(Rng& rng, const AliasEntry* alias, int n) {
    const std::uint64_t x = rng.next_u64();
    const auto col = static_cast<std::size_t>(((x >> 32) * static_cast<std::uint64_t>(n)) >> 32);
    const AliasEntry& a = alias[col];
    // Branch-free select (mask): the acceptance test is a coin flip the predictor cannot learn.
    const int keep = -static_cast<int>((x & 0xffffffffULL) < a.threshold);  // all ones: accept
    return a.alias ^ ((static_cast<int>(col) ^ a.alias) & keep);
  }

  // Exact draw over the slots not yet taken by this token (linear scan).
  int exact_slot(Rng& rng, std::uint32_t clock, const double* weight) const {
    double total = 0;
    int last_free = -1;
    for (int r = 0; r < experts_; ++r) {
      if (stamp_[static_cast<std::size_t>(r)] == clock) continue;
      total += weight[static_cast<std::size_t>(r)];
      last_free = r;
    }
    double u = rng.uniform() * total;
    for (int r = 0; r < experts_; ++r) {
      if (stamp_[static_cast<std::size_t>(r)] == clock) continue;
      u -= weight[static_cast<std::size_t>(r)];
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

  int experts_;
  int top_k_;
  int moe_layers_;
  int ranks_;
  std::uint64_t seed_;
  bool drifts_;
  double local_;  // rank_locality
  int groups_;    // 0: no group limit
  int groups_per_token_;
  PopularityField field_;
  AliasBuilder builder_;
  std::vector<std::vector<AliasEntry>> alias_;  // one shared (zipf) or one per popularity layer
  std::vector<std::int64_t> alias_epoch_;       // epoch each alias table was built for
  std::vector<std::uint32_t> stamp_;            // [slot] == clock_: already chosen by the current token
  std::uint32_t clock_ = 0;
  // Group-limited draws: [variant * experts + e], [variant * groups + g], then per token.
  std::vector<double> expert_weight_, group_mass_, mass_left_, candidate_weight_;
  std::vector<char> chosen_;            // [group]: chosen by the current token
  std::vector<std::uint32_t> taken_;    // [expert] == group_clock_: taken by the current token
  std::vector<std::uint32_t> allowed_;  // [expert] == group_clock_: in a chosen group, not taken
  std::uint32_t group_clock_ = 0;
};

void check_unit(double v, const char* name) {
  if (!(v >= 0.0 && v <= 1.0))  // also rejects NaN
    throw InputError(fmt::format("gate: {} must be in [0, 1], got {}", name, v));
}

}  // namespace

std::unique_ptr<Gate> make_synthetic_gate(const GateSpec& spec, int experts, int top_k, int moe_layers,
                                          std::uint64_t seed, int ranks) {
  if (experts < 1) throw InputError(fmt::format("gate: experts must be >= 1, got {}", experts));
  if (top_k < 1 || top_k > experts)
    throw InputError(fmt::format("gate: top_k must be in [1, experts = {}], got {}", experts, top_k));
  if (moe_layers < 1) throw InputError(fmt::format("gate: MoE layers must be >= 1, got {}", moe_layers));
  if (ranks < 1) throw InputError(fmt::format("gate: ranks must be >= 1, got {}", ranks));
  // Every field is range-checked whatever the kind, so switching kind never hides a bad value.
  const double s = spec.zipf_exponent;
  if (!(s >= 0.0 && s <= 20.0))  // also rejects NaN
    throw InputError(fmt::format("gate: zipf_exponent must be in [0, 20], got {}", s));
  const double sigma = spec.lognormal_sigma;
  if (!(sigma >= 0.0 && sigma <= 10.0))
    throw InputError(fmt::format("gate: lognormal_sigma must be in [0, 10], got {}", sigma));
  const double spread = spec.lognormal_sigma_spread;
  if (!(spread >= 0.0 && spread <= 3.0))
    throw InputError(fmt::format("gate: lognormal_sigma_spread must be in [0, 3], got {}", spread));
  check_unit(spec.layer_correlation, "layer_correlation");
  check_unit(spec.drift_per_step, "drift_per_step");
  check_unit(spec.rank_locality, "rank_locality");
  if (spec.drift_interval_steps < 1)
    throw InputError(fmt::format("gate: drift_interval_steps must be >= 1, got {}", spec.drift_interval_steps));

  PopularityParams p;
  p.experts = experts;
  p.moe_layers = moe_layers;
  p.seed = seed;
  p.drift_interval_steps = spec.drift_interval_steps;
  double locality = spec.rank_locality;
  if (spec.kind == GateModel::uniform) {
    // Equal weights: variation, drift and locality would move nothing; the legacy stream is kept.
    p.kind = PopularityKind::zipf;
    p.zipf_exponent = 0.0;
    locality = 0.0;
  } else {
    p.kind = spec.kind == GateModel::zipf ? PopularityKind::zipf : PopularityKind::lognormal;
    p.zipf_exponent = s;
    p.lognormal_sigma = sigma;
    p.lognormal_sigma_spread = spread;
    p.layer_variation = spec.layer_variation;
    p.layer_correlation = spec.layer_correlation;
    p.drift_per_step = spec.drift_per_step;
  }
  check_group_limit(spec, experts, top_k, "gate");
  return std::make_unique<SyntheticGate>(p, top_k, ranks, locality, spec.groups, spec.groups_per_token);
}

}  // namespace moesim
