// Tests for the synthetic gate's generators: log-normal popularity, drift over steps, correlation
// between layers, per-rank locality, determinism and validation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>
#include <vector>

#include "core/error.hpp"
#include "gate_test_util.hpp"
#include "moe/gate.hpp"
#include "moe/gate_popularity.hpp"

using moesim::GateSpec;

namespace {

GateSpec spec_of(const char* kind, double param = 1.0) {
  GateSpec spec;
  spec.kind = *moesim::parse_setting<moesim::GateModel>(kind);  // the tests name kinds as files do
  if (spec.kind == moesim::GateModel::zipf) spec.zipf_exponent = param;
  if (spec.kind == moesim::GateModel::lognormal) spec.lognormal_sigma = param;
  return spec;
}

std::vector<double> load(moesim::Gate& gate, int step, int layer, int src, int tokens) {
  std::vector<int> ids;
  gate.assign(step, layer, src, tokens, ids);
  std::vector<double> counts(static_cast<std::size_t>(gate.experts()), 0.0);
  for (int e : ids) counts[static_cast<std::size_t>(e)] += 1;
  return counts;
}

int hottest(moesim::Gate& gate, int step, int layer, int src = 0, int tokens = 4000) {
  const auto c = load(gate, step, layer, src, tokens);
  return static_cast<int>(std::max_element(c.begin(), c.end()) - c.begin());
}

double cv(const std::vector<double>& x) {
  const double n = static_cast<double>(x.size());
  const double mean = std::accumulate(x.begin(), x.end(), 0.0) / n;
  double var = 0;
  for (double v : x) var += (v - mean) * (v - mean);
  return std::sqrt(var / n) / mean;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

GateSpec everything(const char* kind) {  // every generator feature on at once
  GateSpec spec = spec_of(kind, kind == std::string("zipf") ? 1.2 : 1.5);
  spec.layer_variation = true;
  spec.layer_correlation = 0.7;
  spec.drift_per_step = 0.05;
  spec.drift_interval_steps = 3;
  spec.rank_locality = 0.4;
  return spec;
}

}  // namespace

TEST_CASE("gate generators: normal quantile inverts the normal CDF", "[gate]") {
  // Phi(x) = erfc(-x / sqrt 2) / 2. Acklam's x has relative error < 1.2e-9, so the tail probability
  // has relative error < 1.2e-9 * x^2 (Mills ratio) < 1e-7 down to p = 1e-9 (x = -6).
  for (double p : {1e-9, 1e-4, 0.01, 0.02425, 0.1, 0.3, 0.5, 0.7, 0.9, 0.97575, 0.99, 1 - 1e-6}) {
    // Compare the smaller tail, where the relative error is what matters.
    const double x = moesim::normal_quantile(p);
    const double tail = 0.5 * std::erfc(std::abs(x) / std::sqrt(2.0));
    CAPTURE(p, x, tail);
    REQUIRE(std::abs(tail - std::min(p, 1 - p)) < 1e-7 * std::min(p, 1 - p));
  }
  REQUIRE(moesim::normal_quantile(0.5) == 0.0);
  REQUIRE(std::abs(moesim::normal_quantile(0.975) - 1.959963985) < 1e-8);
}

TEST_CASE("gate generators: shape and distinct experts with every feature on", "[gate]") {
  for (const char* kind : {"zipf", "lognormal"}) {
    auto gate = moesim::make_synthetic_gate(everything(kind), 64, 6, 4, 7, 8);
    std::vector<int> ids;
    for (int step : {0, 1, 7, 30})
      for (int src = 0; src < 8; ++src) {
        gate->assign(step, step % 4, src, 500, ids);
        // 500 tokens x top-6 = 3000 ids, each token's 6 distinct and in [0, 64).
        REQUIRE(ids.size() == 3000);
        REQUIRE(moesim::test::tokens_distinct(ids, 6, 64));
      }
  }
  // Extreme log-normal skew with top_k = experts finishes each token exactly: a permutation.
  auto gate = moesim::make_synthetic_gate(spec_of("lognormal", 10.0), 128, 128, 1, 5);
  std::vector<int> ids;
  gate->assign(0, 0, 0, 10, ids);
  REQUIRE(moesim::test::tokens_distinct(ids, 128, 128));
}

TEST_CASE("gate generators: log-normal spread grows with sigma", "[gate]") {
  // top_k = 1: expected load of e ~ exp(sigma z_e), so over many experts the CV of the loads tends to
  // sqrt(exp(sigma^2) - 1): 0 -> 0, 0.5 -> 0.533, 1 -> 1.311, plus multinomial noise
  // sqrt(E / N) = sqrt(256 / 200000) = 0.036. 256 experts is one sample of z: loose bounds.
  std::vector<double> c;
  for (double sigma : {0.0, 0.5, 1.0}) {
    auto gate = moesim::make_synthetic_gate(spec_of("lognormal", sigma), 256, 1, 1, 21);
    c.push_back(cv(load(*gate, 0, 0, 0, 200000)));
  }
  REQUIRE(c[0] < 0.06);
  REQUIRE(c[1] > 0.35);
  REQUIRE(c[1] < 0.75);
  REQUIRE(c[2] > c[1] + 0.3);
  REQUIRE(c[2] < 2.2);
  // top-8 as well: the hottest expert gets far more than the mean 20000 * 8 / 256 = 625.
  auto top8 = moesim::make_synthetic_gate(spec_of("lognormal", 1.0), 256, 8, 1, 21);
  const auto l8 = load(*top8, 0, 0, 0, 20000);
  REQUIRE(*std::max_element(l8.begin(), l8.end()) > 3 * 625);
}

TEST_CASE("gate generators: drift moves the hot experts over steps, zero drift does not", "[gate]") {
  for (const char* kind : {"zipf", "lognormal"}) {
    // Skewed enough that the hottest expert wins 4000 draws by a wide margin (zipf s = 2:
    // p(rank 0) = 0.61 of each draw; lognormal sigma = 3).
    GateSpec fixed = spec_of(kind, kind == std::string("zipf") ? 2.0 : 3.0);
    GateSpec drifting = fixed;
    drifting.drift_per_step = 0.05;
    auto still = moesim::make_synthetic_gate(fixed, 64, 1, 1, 3);
    auto moving = moesim::make_synthetic_gate(drifting, 64, 1, 1, 3);
    const int h0 = hottest(*still, 0, 0);
    for (int step : {1, 50, 200}) REQUIRE(hottest(*still, step, 0) == h0);
    // Drift does not change epoch 0; after 50 steps corr(z_0, z_50) = 0.95^25 = 0.28.
    REQUIRE(hottest(*moving, 0, 0) == h0);
    std::set<int> hot;
    for (int step = 0; step <= 50; step += 5) hot.insert(hottest(*moving, step, 0));
    REQUIRE(hot.size() > 1);
    REQUIRE(hottest(*moving, 50, 0) != h0);
  }
}

TEST_CASE("gate generators: drift_interval_steps holds the popularity for whole epochs", "[gate]") {
  // drift_per_step = 1: each epoch of 10 steps is independent of the previous one.
  GateSpec spec = spec_of("zipf", 2.0);
  spec.drift_per_step = 1.0;
  spec.drift_interval_steps = 10;
  auto gate = moesim::make_synthetic_gate(spec, 64, 1, 1, 8);
  std::set<int> per_epoch;
  for (int epoch = 0; epoch < 5; ++epoch) {
    const int h = hottest(*gate, 10 * epoch, 0);
    REQUIRE(hottest(*gate, 10 * epoch + 9, 0) == h);
    per_epoch.insert(h);
  }
  REQUIRE(per_epoch.size() > 1);
}

TEST_CASE("gate generators: log-normal drift keeps the skew (stationary walk)", "[gate]") {
  // z stays N(0, 1) at every epoch, so the load CV stays near sqrt(e - 1) = 1.31 (sigma = 1).
  GateSpec spec = spec_of("lognormal", 1.0);
  spec.drift_per_step = 0.2;
  auto gate = moesim::make_synthetic_gate(spec, 512, 1, 1, 13);
  for (int step : {0, 100, 1000}) {
    const double c = cv(load(*gate, step, 0, 0, 200000));
    REQUIRE(c > 0.8);
    REQUIRE(c < 2.2);
  }
}

TEST_CASE("gate generators: layer_correlation 1 shares the hot experts, 0 does not", "[gate]") {
  for (const char* kind : {"zipf", "lognormal"}) {
    GateSpec spec = spec_of(kind, kind == std::string("zipf") ? 2.0 : 3.0);
    spec.layer_variation = true;
    spec.layer_correlation = 1.0;
    auto shared = moesim::make_synthetic_gate(spec, 256, 1, 6, 11);
    spec.layer_correlation = 0.0;
    auto independent = moesim::make_synthetic_gate(spec, 256, 1, 6, 11);
    std::set<int> hs, hi;
    for (int l = 0; l < 6; ++l) {
      hs.insert(hottest(*shared, 0, l));
      hi.insert(hottest(*independent, 0, l));
    }
    REQUIRE(hs.size() == 1);
    REQUIRE(hi.size() > 1);
    // Layer 0 is the same popularity whatever rho.
    REQUIRE(hottest(*shared, 0, 0) == hottest(*independent, 0, 0));
  }
}

TEST_CASE("gate generators: adjacent layers' log-loads correlate by layer_correlation", "[gate]") {
  // lognormal, top_k = 1: log(load_e) ~ sigma z_e + const + noise and corr(z[l], z[l-1]) = rho
  // exactly; averaged over 7 adjacent pairs of 512 experts (sd ~ 0.02) the Pearson correlation of
  // the log-loads is rho, minus a little for the noise of 400k / 512 = 781 tokens per expert.
  for (double rho : {0.0, 0.5, 0.9}) {
    GateSpec spec = spec_of("lognormal", 1.0);
    spec.layer_variation = true;
    spec.layer_correlation = rho;
    auto gate = moesim::make_synthetic_gate(spec, 512, 1, 8, 17);
    std::vector<std::vector<double>> log_load;
    for (int l = 0; l < 8; ++l) {
      auto c = load(*gate, 0, l, 0, 400000);
      for (double& x : c) x = std::log(x + 0.5);
      log_load.push_back(c);
    }
    double mean = 0;
    for (std::size_t l = 1; l < 8; ++l) mean += pearson(log_load[l - 1], log_load[l]) / 7;
    REQUIRE(std::abs(mean - rho) < 0.1);
  }
}

TEST_CASE("gate generators: rank_locality gives each rank its own hot experts", "[gate]") {
  // zipf without layer_variation: rank r's rotated popularity puts its hottest on r * 64 / 8 = 8r.
  GateSpec spec = spec_of("zipf", 2.0);
  spec.rank_locality = 1.0;
  auto local = moesim::make_synthetic_gate(spec, 64, 2, 1, 5, 8);
  spec.rank_locality = 0.0;
  auto global = moesim::make_synthetic_gate(spec, 64, 2, 1, 5, 8);
  for (int r = 0; r < 8; ++r) {
    REQUIRE(hottest(*local, 0, 0, r) == 8 * r);
    REQUIRE(hottest(*global, 0, 0, r) == 0);
  }
  // lognormal with layer variation: rank r's hottest is rank 0's shifted by floor(r * 60 / 7).
  GateSpec ln = spec_of("lognormal", 3.0);
  ln.layer_variation = true;
  ln.rank_locality = 1.0;
  auto lg = moesim::make_synthetic_gate(ln, 60, 1, 3, 9, 7);
  for (int l = 0; l < 3; ++l) {
    const int h0 = hottest(*lg, 0, l, 0);
    for (int r = 1; r < 7; ++r) REQUIRE(hottest(*lg, 0, l, r) == (h0 + r * 60 / 7) % 60);
  }
}

TEST_CASE("gate generators: rank_locality mixture matches the closed form", "[gate]") {
  // zipf s = 1.2, 8 experts, 2 ranks, lambda = 0.4, top_k = 1: p(e) = (e + 1)^-s / sum, and rank 1
  // (shift 4) draws P_1(e) = 0.6 p(e) + 0.4 p((e - 4) mod 8); rank 0 (shift 0) draws p(e).
  // 200k tokens: each count within 5 binomial sd.
  const int n = 8, tokens = 200000;
  std::vector<double> p(n);
  for (int e = 0; e < n; ++e) p[static_cast<std::size_t>(e)] = std::pow(e + 1.0, -1.2);
  const double z = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= z;
  GateSpec spec = spec_of("zipf", 1.2);
  spec.rank_locality = 0.4;
  auto gate = moesim::make_synthetic_gate(spec, n, 1, 1, 31, 2);
  for (int r = 0; r < 2; ++r) {
    const auto c = load(*gate, 0, 0, r, tokens);
    for (int e = 0; e < n; ++e) {
      const double pe = r == 0 ? p[static_cast<std::size_t>(e)]
                               : 0.6 * p[static_cast<std::size_t>(e)] + 0.4 * p[static_cast<std::size_t>((e + 4) % n)];
      const double expect = tokens * pe, sd = std::sqrt(expect * (1 - pe));
      REQUIRE(std::abs(c[static_cast<std::size_t>(e)] - expect) < 5 * sd);
    }
  }
}

TEST_CASE("gate generators: deterministic and independent of call order", "[gate]") {
  for (const char* kind : {"zipf", "lognormal"}) {
    const GateSpec spec = everything(kind);
    auto a = moesim::make_synthetic_gate(spec, 128, 8, 4, 42, 8);
    auto b = moesim::make_synthetic_gate(spec, 128, 8, 4, 42, 8);
    auto c = moesim::make_synthetic_gate(spec, 128, 8, 4, 43, 8);
    // a walks the steps in order (incremental drift); b jumps ahead, goes back (recomputes from
    // scratch) and forth.
    std::vector<int> a7, a40, ids;
    for (int step = 0; step <= 40; ++step) {
      a->assign(step, 2, 5, 64, ids);
      if (step == 7) a7 = ids;
      if (step == 40) a40 = ids;
    }
    std::vector<int> b7, b40, b40_again, c40;
    b->assign(40, 2, 5, 64, b40);
    b->assign(7, 2, 5, 64, b7);
    b->assign(40, 2, 5, 64, b40_again);
    c->assign(40, 2, 5, 64, c40);
    REQUIRE(a7 == b7);
    REQUIRE(a40 == b40);
    REQUIRE(a40 == b40_again);
    REQUIRE(a40 != c40);
  }
}

TEST_CASE("gate generators: new fields at their defaults leave a uniform gate untouched", "[gate]") {
  // uniform ignores variation, correlation, drift and locality: the same ids as the plain gate.
  GateSpec busy;
  busy.layer_variation = true;
  busy.layer_correlation = 0.5;
  busy.drift_per_step = 0.3;
  busy.rank_locality = 0.7;
  auto plain = moesim::make_synthetic_gate(GateSpec{}, 64, 4, 2, 3, 4);
  auto ignored = moesim::make_synthetic_gate(busy, 64, 4, 2, 3, 4);
  std::vector<int> x, y;
  for (int step : {0, 9})
    for (int src = 0; src < 4; ++src) {
      plain->assign(step, 1, src, 100, x);
      ignored->assign(step, 1, src, 100, y);
      REQUIRE(x == y);
    }
  // lognormal with sigma = 0 is uniform too (within 6 sd of 20000 * 8 / 256 = 625).
  auto flat = moesim::make_synthetic_gate(spec_of("lognormal", 0.0), 256, 8, 1, 9);
  for (double n : load(*flat, 0, 0, 0, 20000)) {
    REQUIRE(n > 625 - 150);
    REQUIRE(n < 625 + 150);
  }
}

TEST_CASE("gate generators: invalid specs throw InputError", "[gate]") {
  using moesim::InputError;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto with = [](auto set) {
    GateSpec spec = spec_of("lognormal");
    set(spec);
    return spec;
  };
  for (double bad : {-0.1, 10.5, nan})
    REQUIRE_THROWS_WITH(moesim::make_synthetic_gate(with([&](GateSpec& s) { s.lognormal_sigma = bad; }), 8, 2, 1, 0),
                        Catch::Contains("lognormal_sigma"));
  for (double bad : {-0.01, 1.01, nan}) {
    REQUIRE_THROWS_WITH(moesim::make_synthetic_gate(with([&](GateSpec& s) { s.layer_correlation = bad; }), 8, 2, 1, 0),
                        Catch::Contains("layer_correlation"));
    REQUIRE_THROWS_WITH(moesim::make_synthetic_gate(with([&](GateSpec& s) { s.drift_per_step = bad; }), 8, 2, 1, 0),
                        Catch::Contains("drift_per_step"));
    REQUIRE_THROWS_WITH(moesim::make_synthetic_gate(with([&](GateSpec& s) { s.rank_locality = bad; }), 8, 2, 1, 0),
                        Catch::Contains("rank_locality"));
  }
  REQUIRE_THROWS_WITH(moesim::make_synthetic_gate(with([](GateSpec& s) { s.drift_interval_steps = 0; }), 8, 2, 1, 0),
                      Catch::Contains("drift_interval_steps"));
  REQUIRE_THROWS_WITH(moesim::make_synthetic_gate(spec_of("zipf"), 8, 2, 1, 0, 0), Catch::Contains("ranks"));
  // Range-checked whatever the kind: a bad sigma is an error on a zipf gate too.
  GateSpec zipf_bad_sigma = spec_of("zipf");
  zipf_bad_sigma.lognormal_sigma = -1;
  REQUIRE_THROWS_AS(moesim::make_synthetic_gate(zipf_bad_sigma, 8, 2, 1, 0), InputError);
  // Edges are valid.
  REQUIRE_NOTHROW(moesim::make_synthetic_gate(with([](GateSpec& s) {
                                                s.lognormal_sigma = 10;
                                                s.layer_correlation = 1;
                                                s.drift_per_step = 1;
                                                s.rank_locality = 1;
                                              }),
                                              8, 8, 1, 0, 1000));

  // assign(): locality needs a source rank in [0, ranks); drift needs step >= 0.
  GateSpec local = spec_of("zipf");
  local.rank_locality = 0.5;
  auto gate = moesim::make_synthetic_gate(local, 8, 2, 1, 0, 4);
  std::vector<int> ids;
  REQUIRE_THROWS_AS(gate->assign(0, 0, 4, 1, ids), moesim::Error);
  REQUIRE_THROWS_AS(gate->assign(0, 0, -1, 1, ids), moesim::Error);
  REQUIRE_NOTHROW(gate->assign(0, 0, 3, 1, ids));
  auto drifting = moesim::make_synthetic_gate(with([](GateSpec& s) { s.drift_per_step = 0.1; }), 8, 2, 1, 0);
  REQUIRE_THROWS_AS(drifting->assign(-1, 0, 0, 1, ids), moesim::Error);
}
