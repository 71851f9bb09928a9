#pragma once
// PopularityField: the synthetic gate's per-(epoch, layer) expert popularity, from latent Gaussian
// scores blended across layers and drifting across epochs (construction documented in gate.hpp).
#include <cstdint>
#include <vector>

namespace moesim {

// Inverse standard normal CDF for p in (0, 1): Acklam's rational approximation (relative error
// below 1.2e-9), enough for scores that only order experts.
double normal_quantile(double p);

enum class PopularityKind { zipf, lognormal };  // uniform is zipf with exponent 0 and nothing varying

struct PopularityParams {
  PopularityKind kind = PopularityKind::zipf;
  int experts = 1;
  int moe_layers = 1;
  bool layer_variation = false;  // false: one popularity layer shared by every MoE layer
  double zipf_exponent = 0.0;
  double lognormal_sigma = 1.0;
  double lognormal_sigma_spread = 0.0;  // per-layer sigma = sigma * exp(spread * g_l), capped at 10
  double layer_correlation = 0.0;
  double drift_per_step = 0.0;
  int drift_interval_steps = 1;
  std::uint64_t seed = 0;
};

// Popularity of the current epoch, per popularity layer: draw slot s with probability
// weights(l)[s] / sum, then the expert is slot_to_expert(l)[s]. For zipf a slot is a popularity rank
// (weights fixed, the ranking moves); for lognormal a slot is an expert (weights move).
class PopularityField {
 public:
  explicit PopularityField(const PopularityParams& params);

  int layers() const { return layers_; }  // popularity layers: moe_layers with layer_variation, else 1
  // Epoch of a step: floor(step / drift_interval_steps), or 0 when nothing drifts. step >= 0.
  std::int64_t epoch_of(int step) const;
  // Makes `epoch` current: advances one epoch at a time from the current one, or restarts from
  // epoch 0 when asked an earlier one (bitwise the same result either way).
  void seek(std::int64_t epoch);
  std::int64_t epoch() const { return epoch_; }
  // True when the weights never change (zipf: weight of rank r), so one alias table serves all.
  bool fixed_weights() const { return params_.kind == PopularityKind::zipf; }

  // Lognormal sigma of popularity layer l (the same in every epoch).
  double sigma(int layer) const { return sigma_[static_cast<std::size_t>(layer)]; }

  // Current epoch, popularity layer l (computed on first use per epoch; references stay valid).
  const std::vector<double>& weights(int layer);
  const std::vector<int>& slot_to_expert(int layer);

 private:
  void advance(std::int64_t epoch);                  // epoch_ -> epoch: epoch == 0 (from scratch) or epoch_ + 1
  void fresh_scores(std::int64_t epoch, int layer);  // xi_ (and perm_ row for zipf)
  void derive(int layer);

  PopularityParams params_;
  int layers_;
  std::size_t n_;                  // experts
  double layer_keep_, layer_new_;  // rho, sqrt(1 - rho^2)
  double time_keep_, time_new_;    // a, sqrt(1 - a^2)
  std::int64_t epoch_ = -1;
  std::vector<double> quantile_;             // zipf: q_r, descending
  std::vector<double> rank_weight_;          // zipf: 1 / (r + 1)^s
  std::vector<int> identity_;                // lognormal: slot = expert
  std::vector<double> sigma_;                // lognormal: [layer]: sigma_l
  std::vector<double> z_;                    // [layer * n + e]: latent score of the current epoch
  std::vector<int> perm_;                    // zipf: [layer * n + r]: the fresh permutation of the current epoch
  std::vector<char> pure_;                   // zipf: [layer]: z is exactly that permutation's scores
  std::vector<std::int64_t> derived_epoch_;  // [layer]: epoch held by map_ / weight_
  std::vector<std::vector<int>> map_;        // zipf: rank -> expert per layer
  std::vector<std::vector<double>> weight_;  // lognormal: weight per expert per layer
  std::vector<double> xi_, eta_;             // scratch: fresh scores, layer-blended scores
  std::vector<int> order_;                   // scratch for ranking
};

}  // namespace moesim
