// PopularityField: latent Gaussian expert scores, blended across layers and drifting across epochs,
// turned into Zipf rankings or log-normal weights for the synthetic gate.
#include "moe/gate_popularity.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/rng.hpp"

namespace moesim {
namespace {

// Stream tags, far above any step index so they never collide with assign()'s (step, layer, gpu)
// streams. kPermutationTag is the per-layer ranking the gate has always used (epoch 0, zipf).
constexpr std::uint64_t kPermutationTag = 0x7065726d75746531ULL;
constexpr std::uint64_t kDriftPermutationTag = 0x6472696674706572ULL;
constexpr std::uint64_t kLognormalTag = 0x6c6f676e6f726d31ULL;
constexpr std::uint64_t kSigmaSpreadTag = 0x7369676d61737072ULL;

void shuffle(int* a, std::size_t n, Rng& rng) {  // Fisher-Yates, as the gate has always done it
  for (std::size_t i = n - 1; i > 0; --i) {
    const std::size_t j = rng.below(static_cast<std::uint32_t>(i + 1));
    std::swap(a[i], a[j]);
  }
}

void fill_normal(double* out, std::size_t n, Rng& rng) {  // Box-Muller, both outputs used
  constexpr double kTwoPi = 6.283185307179586476925;
  for (std::size_t i = 0; i < n; i += 2) {
    const double u1 = 1.0 - rng.uniform();  // (0, 1]: log stays finite
    const double u2 = rng.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[i] = r * std::cos(kTwoPi * u2);
    if (i + 1 < n) out[i + 1] = r * std::sin(kTwoPi * u2);
  }
}

}  // namespace

double normal_quantile(double p) {
  static constexpr double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                                 1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static constexpr double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                                 6.680131188771972e+01, -1.328068155288572e+01};
  static constexpr double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                                 -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static constexpr double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                                 3.754408661907416e+00};
  constexpr double p_low = 0.02425;
  auto tail = [&](double q) {  // lower tail, q = sqrt(-2 log p)
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  };
  if (p < p_low) return tail(std::sqrt(-2 * std::log(p)));
  if (p > 1 - p_low) return -tail(std::sqrt(-2 * std::log1p(-p)));
  const double q = p - 0.5;
  const double r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

PopularityField::PopularityField(const PopularityParams& params)
    : params_(params),
      layers_(params.layer_variation ? params.moe_layers : 1),
      n_(static_cast<std::size_t>(params.experts)),
      layer_keep_(params.layer_correlation),
      layer_new_(std::sqrt(1.0 - params.layer_correlation * params.layer_correlation)),
      // a^2 = (1 - d)^I: the variance kept over one epoch of I steps.
      time_keep_(std::pow(1.0 - params.drift_per_step, 0.5 * params.drift_interval_steps)),
      time_new_(std::sqrt(1.0 - std::pow(1.0 - params.drift_per_step, params.drift_interval_steps))) {
  const std::size_t layers = static_cast<std::size_t>(layers_);
  z_.resize(layers * n_);
  xi_.resize(n_);
  eta_.resize(n_);
  derived_epoch_.assign(layers, -1);
  if (params_.kind == PopularityKind::zipf) {
    rank_weight_.resize(n_);
    quantile_.resize(n_);
    for (std::size_t r = 0; r < n_; ++r) {
      rank_weight_[r] = std::pow(static_cast<double>(r + 1), -params_.zipf_exponent);
      quantile_[r] = normal_quantile(1.0 - (static_cast<double>(r) + 0.5) / static_cast<double>(n_));
    }
    perm_.resize(layers * n_);
    pure_.assign(layers, 0);
    map_.assign(layers, std::vector<int>(n_));
    order_.resize(n_);
  } else {
    identity_.resize(n_);
    std::iota(identity_.begin(), identity_.end(), 0);
    weight_.assign(layers, std::vector<double>(n_));
    sigma_.assign(layers, params_.lognormal_sigma);
    if (params_.layer_variation && params_.lognormal_sigma_spread > 0.0) {
      // One draw per layer from its own stream: a layer's skew does not depend on the layer count.
      for (std::size_t l = 0; l < layers; ++l) {
        Rng rng = Rng::derived(params_.seed, kSigmaSpreadTag, static_cast<std::uint64_t>(l));
        double g = 0.0;
        fill_normal(&g, 1, rng);
        sigma_[l] = std::min(10.0, params_.lognormal_sigma * std::exp(params_.lognormal_sigma_spread * g));
      }
    }
  }
  seek(0);
}

std::int64_t PopularityField::epoch_of(int step) const {
  if (params_.drift_per_step <= 0.0) return 0;
  return step / params_.drift_interval_steps;
}

void PopularityField::seek(std::int64_t epoch) {
  if (epoch == epoch_) return;
  if (epoch < epoch_) epoch_ = -1;  // asked out of order: recompute from scratch
  while (epoch_ < epoch) advance(epoch_ + 1);
}

void PopularityField::fresh_scores(std::int64_t epoch, int layer) {
  const auto l = static_cast<std::uint64_t>(layer);
  if (params_.kind == PopularityKind::lognormal) {
    Rng rng = Rng::derived(params_.seed, kLognormalTag, static_cast<std::uint64_t>(epoch), l);
    fill_normal(xi_.data(), n_, rng);
    return;
  }
  int* perm = perm_.data() + static_cast<std::size_t>(layer) * n_;
  std::iota(perm, perm + n_, 0);
  if (epoch == 0) {
    if (params_.layer_variation) {
      Rng rng = Rng::derived(params_.seed, kPermutationTag, l);
      shuffle(perm, n_, rng);
    }
  } else {
    Rng rng = Rng::derived(params_.seed, kDriftPermutationTag, static_cast<std::uint64_t>(epoch), l);
    shuffle(perm, n_, rng);
  }
  for (std::size_t r = 0; r < n_; ++r) xi_[static_cast<std::size_t>(perm[r])] = quantile_[r];
}

void PopularityField::advance(std::int64_t epoch) {
  for (int l = 0; l < layers_; ++l) {
    fresh_scores(epoch, l);
    const bool fresh_layer = l == 0 || layer_keep_ == 0.0;
    if (fresh_layer) {
      eta_ = xi_;
    } else {
      for (std::size_t e = 0; e < n_; ++e) eta_[e] = layer_keep_ * eta_[e] + layer_new_ * xi_[e];
    }
    double* z = z_.data() + static_cast<std::size_t>(l) * n_;
    const bool fresh_time = epoch == 0 || time_keep_ == 0.0;
    if (fresh_time) {
      std::copy(eta_.begin(), eta_.end(), z);
    } else {
      for (std::size_t e = 0; e < n_; ++e) z[e] = time_keep_ * z[e] + time_new_ * eta_[e];
    }
    // Nothing blended: the ranking is the permutation itself, exactly (the legacy zipf gate).
    if (!pure_.empty()) pure_[static_cast<std::size_t>(l)] = fresh_layer && fresh_time;
  }
  epoch_ = epoch;
}

void PopularityField::derive(int layer) {
  const auto li = static_cast<std::size_t>(layer);
  if (derived_epoch_[li] == epoch_) return;
  derived_epoch_[li] = epoch_;
  const double* z = z_.data() + li * n_;
  if (params_.kind == PopularityKind::lognormal) {
    std::vector<double>& w = weight_[li];
    const double sigma = sigma_[li];
    for (std::size_t e = 0; e < n_; ++e) w[e] = std::exp(sigma * z[e]);
    return;
  }
  std::vector<int>& map = map_[li];
  const int* perm = perm_.data() + li * n_;
  if (pure_[li]) {
    std::copy(perm, perm + n_, map.begin());
    return;
  }
  std::iota(order_.begin(), order_.end(), 0);
  std::sort(order_.begin(), order_.end(), [z](int x, int y) {
    const double zx = z[static_cast<std::size_t>(x)], zy = z[static_cast<std::size_t>(y)];
    return zx > zy || (zx == zy && x < y);
  });
  std::copy(order_.begin(), order_.end(), map.begin());
}

const std::vector<double>& PopularityField::weights(int layer) {
  if (params_.kind == PopularityKind::zipf) return rank_weight_;
  derive(layer);
  return weight_[static_cast<std::size_t>(layer)];
}

const std::vector<int>& PopularityField::slot_to_expert(int layer) {
  if (params_.kind == PopularityKind::lognormal) return identity_;
  derive(layer);
  return map_[static_cast<std::size_t>(layer)];
}

}  // namespace moesim
