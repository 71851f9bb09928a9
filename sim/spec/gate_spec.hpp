#pragma once
// What a scenario says of its synthetic gate: the popularity model of token-to-expert selection.
#include "spec/settings.hpp"

namespace moesim {

// What an expert over its capacity does (moe/capacity.hpp): drop the assignments with the worst
// pick index, drop the latest in batch order, or pad every (source, expert) buffer to a fixed size.
enum class CapacityPolicy : std::uint8_t { drop_by_score, drop_by_position, pad };
template <>
struct SettingNames<CapacityPolicy> {
  static constexpr std::array<std::string_view, 3> names{"drop_by_score", "drop_by_position", "pad"};
};

// Popularity model of the synthetic gate (E experts, L MoE layers, R source ranks).
//
// Latent score. Every (popularity epoch n, popularity layer l, expert e) has a score z[n][l][e]:
//   fresh scores   xi[n][l]: lognormal: E independent N(0, 1) draws (Box-Muller, seeded by (n, l));
//                  zipf: xi[perm[r]] = q_r = Phi^-1(1 - (r + 0.5) / E) for a seeded permutation
//                  perm (epoch 0: the identity without layer_variation, else the per-layer
//                  permutation the gate has always used; later epochs: fresh seeded permutations).
//   layer blend    eta[n][0] = xi[n][0];  eta[n][l] = rho * eta[n][l-1] + sqrt(1 - rho^2) * xi[n][l]
//                  with rho = layer_correlation (adjacent layers' scores correlate by rho, layers k
//                  apart by rho^k; rho = 1: every layer has layer 0's scores).
//   drift          z[0][l] = eta[0][l];  z[n][l] = a * z[n-1][l] + sqrt(1 - a^2) * eta[n][l]
//                  with a = (1 - drift_per_step)^(drift_interval_steps / 2): a fraction
//                  drift_per_step of each score's variance is renewed per step, applied in one jump
//                  per epoch; corr(z[n], z[m]) = (1 - d)^(I * |n - m| / 2). For lognormal z stays
//                  exactly N(0, 1) at every epoch and layer (a stationary, Ornstein-Uhlenbeck-like
//                  walk), so drift moves the hot set without changing the skew.
// Popularity of layer l in epoch n = floor(step / drift_interval_steps):
//   uniform:   1 for every expert (ignores every field below, like layer_variation always has).
//   zipf:      experts ranked by z descending (ties: lower id first); rank r weighs 1 / (r + 1)^s.
//              With the defaults (rho = 0, no drift) the ranking is exactly the permutation above.
//   lognormal: expert e weighs exp(sigma_l * z[n][l][e]): expected load CV sqrt(exp(sigma_l^2) - 1).
//              sigma_l = sigma * exp(spread * g_l), g_l ~ N(0, 1) seeded by layer l alone (not by
//              epoch: a layer keeps its skew while its hot set drifts), spread =
//              lognormal_sigma_spread, capped at 10; spread = 0 or no layer_variation: sigma_l =
//              sigma. So log sigma_l ~ N(log sigma, spread^2): some layers far more skewed than
//              others, as measured on DeepSeek-R1 (models/routing/).
// Without layer_variation there is one popularity layer, shared by all MoE layers (so
// layer_correlation has no effect). With drift_per_step = 0 every step is in epoch 0.
// Per-rank locality: a token of source rank r draws, with probability rank_locality, from the
// popularity rotated by shift_r = floor(r * E / R) (expert (e + shift_r) mod E gets e's weight),
// otherwise from the layer's popularity itself; all of a token's top_k experts come from the same
// one. So P_r(e) = (1 - lambda) P(e) + lambda P((e - shift_r) mod E) for top_k = 1. With zipf and
// no layer_variation, rank r's favourite experts are shift_r, shift_r + 1, ...: the block a
// contiguous placement puts on GPU r when R = GPUs.
struct GateSpec {
  GateModel kind = GateModel::uniform;
  // The routing preset (models/routing/<preset>.toml) the fields below came from; "" = none. Only
  // a label: the gate reads the fields.
  std::string preset;
  double zipf_exponent = 1.0;           // [0, 20]: popularity of the r-th most popular expert ~ 1 / r^s
  double lognormal_sigma = 1.0;         // [0, 10]: sd of the log-weights (DeepSeek-V3 loads fit log-normal)
  double lognormal_sigma_spread = 0.0;  // [0, 3]: per-layer spread of sigma above (with layer_variation)
  // Per-layer variation: each MoE layer has its own popularity, so the hot experts differ between
  // layers. Off: one popularity for all layers (zipf: expert 0 is the most popular in every layer).
  bool layer_variation = false;
  double layer_correlation = 0.0;  // [0, 1]: rho above; needs layer_variation to mean anything
  double drift_per_step = 0.0;     // [0, 1]: d above; 0 = popularity fixed over steps
  int drift_interval_steps = 1;    // >= 1: I above; popularity is held for I steps, then jumps
  double rank_locality = 0.0;      // [0, 1]: lambda above; needs make_synthetic_gate's ranks
  // Group-limited routing (DeepSeek-V3): experts form `groups` equal groups of consecutive ids; a
  // token picks `groups_per_token` groups without replacement proportional to each group's
  // popularity mass (its experts' weights under the token's popularity), then its top_k experts
  // proportional to popularity among those groups' experts. 0 = off. Trace replay remaps picks
  // outside the limit (moe/group_routing.hpp). groups must divide the experts and
  // groups_per_token * experts / groups >= top_k.
  int groups = 0;
  int groups_per_token = 1;  // [1, groups]
  // Expert capacity (GShard / Switch): C = ceil(capacity_factor * T * top_k / E) per expert, layer
  // and micro-batch, T = tokens of the EP group's live GPUs; 0 = off (moe/capacity.hpp). Applies to
  // traces too.
  double capacity_factor = 0.0;
  CapacityPolicy capacity_policy = CapacityPolicy::drop_by_score;
};

}  // namespace moesim
