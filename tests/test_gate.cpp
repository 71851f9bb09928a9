// Tests for the synthetic gates: shape, distinctness, determinism, Zipf skew and validation.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "gate_test_util.hpp"
#include "moe/gate.hpp"

using moesim::GateSpec;

namespace {

GateSpec zipf(double s, bool variation = false) {
  GateSpec spec;
  spec.kind = moesim::GateModel::zipf;
  spec.zipf_exponent = s;
  spec.layer_variation = variation;
  return spec;
}

std::vector<long> counts_of(const std::vector<int>& ids, int experts) {
  std::vector<long> counts(static_cast<std::size_t>(experts), 0);
  for (int e : ids) ++counts[static_cast<std::size_t>(e)];
  return counts;
}

double max_over_mean(const std::vector<long>& counts) {
  const double total = static_cast<double>(std::accumulate(counts.begin(), counts.end(), 0L));
  return static_cast<double>(*std::max_element(counts.begin(), counts.end())) /
         (total / static_cast<double>(counts.size()));
}

}  // namespace

TEST_CASE("gate: shape, range and distinct experts per token", "[gate]") {
  for (const GateSpec& spec : {GateSpec{}, zipf(1.0), zipf(3.0, true)}) {
    auto gate = moesim::make_synthetic_gate(spec, 64, 6, 4, 7);
    REQUIRE(gate->experts() == 64);
    REQUIRE(gate->top_k() == 6);
    std::vector<int> ids;
    gate->assign(0, 3, 5, 1000, ids);
    // 1000 tokens x top-6 = 6000 ids.
    REQUIRE(ids.size() == 6000);
    const auto counts = counts_of(ids, 64);
    REQUIRE(std::accumulate(counts.begin(), counts.end(), 0L) == 6000);
    REQUIRE(moesim::test::tokens_distinct(ids, 6, 64));
    gate->assign(1, 0, 0, 0, ids);
    REQUIRE(ids.empty());
  }
}

TEST_CASE("gate: deterministic per (seed, step, layer, gpu), independent of call order", "[gate]") {
  auto a = moesim::make_synthetic_gate(zipf(1.0), 256, 8, 4, 42);
  auto b = moesim::make_synthetic_gate(zipf(1.0), 256, 8, 4, 42);
  auto c = moesim::make_synthetic_gate(zipf(1.0), 256, 8, 4, 43);
  std::vector<int> a1, a2, b1, b2, c1;
  a->assign(3, 1, 7, 128, a1);
  a->assign(0, 0, 0, 128, a2);
  b->assign(0, 0, 0, 128, b2);  // other order
  b->assign(3, 1, 7, 128, b1);
  c->assign(3, 1, 7, 128, c1);
  REQUIRE(a1 == b1);
  REQUIRE(a2 == b2);
  REQUIRE(a1 != c1);
  REQUIRE(a1 != a2);
}

TEST_CASE("gate: higher Zipf exponent means a hotter hottest expert", "[gate]") {
  // 256 experts, top-8, 10k tokens: mean load 10000 * 8 / 256 = 312.5. The max/mean ratio is
  // capped at 256 / 8 = 32 (every token picks the hottest); s = 2 puts p(rank 0) = 1/zeta(2) ~ 0.61
  // on the first draw alone, so it sits near the cap; s = 1 has p(rank 0) ~ 1/H_256 ~ 0.16 per draw.
  std::vector<double> ratio;
  for (double s : {0.0, 1.0, 2.0}) {
    auto gate = moesim::make_synthetic_gate(zipf(s), 256, 8, 1, 1);
    std::vector<int> ids;
    gate->assign(0, 0, 0, 10000, ids);
    ratio.push_back(max_over_mean(counts_of(ids, 256)));
  }
  REQUIRE(ratio[0] < 1.4);
  REQUIRE(ratio[1] > 2 * ratio[0]);
  REQUIRE(ratio[2] > ratio[1]);
  REQUIRE(ratio[2] <= 32.0);
  REQUIRE(ratio[2] > 28.0);
}

TEST_CASE("gate: zipf with s = 0 is uniform", "[gate]") {
  // 20k tokens x top-8 over 256 experts: mean 625 per expert, sd ~ sqrt(625) = 25; allow 6 sd.
  for (const GateSpec& spec : {GateSpec{}, zipf(0.0)}) {
    auto gate = moesim::make_synthetic_gate(spec, 256, 8, 1, 9);
    std::vector<int> ids;
    gate->assign(0, 0, 0, 20000, ids);
    for (long n : counts_of(ids, 256)) {
      REQUIRE(n > 625 - 150);
      REQUIRE(n < 625 + 150);
    }
  }
}

TEST_CASE("gate: Zipf frequencies match the closed form", "[gate]") {
  // top_k = 1: P(rank r) = (r + 1)^-s / sum_j (j + 1)^-s. 8 experts, s = 1.2, 200k tokens; each
  // count within 5 binomial sd of its expectation.
  const int n = 8;
  const double s = 1.2;
  std::vector<double> p(n);
  for (int r = 0; r < n; ++r) p[static_cast<std::size_t>(r)] = std::pow(r + 1.0, -s);
  const double z = std::accumulate(p.begin(), p.end(), 0.0);
  for (double& x : p) x /= z;
  const int tokens = 200000;
  {
    auto gate = moesim::make_synthetic_gate(zipf(s), n, 1, 1, 3);
    std::vector<int> ids;
    gate->assign(0, 0, 0, tokens, ids);
    const auto counts = counts_of(ids, n);
    for (int r = 0; r < n; ++r) {
      const double expect = tokens * p[static_cast<std::size_t>(r)];
      const double sd = std::sqrt(expect * (1 - p[static_cast<std::size_t>(r)]));
      REQUIRE(std::abs(static_cast<double>(counts[static_cast<std::size_t>(r)]) - expect) < 5 * sd);
    }
  }
  // top_k = 2 without replacement: P(expert 0 in the pair) = p0 + sum_{i != 0} p_i * p0 / (1 - p_i).
  double in_pair = p[0];
  for (int i = 1; i < n; ++i) in_pair += p[static_cast<std::size_t>(i)] * p[0] / (1 - p[static_cast<std::size_t>(i)]);
  auto gate = moesim::make_synthetic_gate(zipf(s), n, 2, 1, 4);
  std::vector<int> ids;
  gate->assign(0, 0, 0, tokens, ids);
  const double expect = tokens * in_pair;
  const double sd = std::sqrt(expect * (1 - in_pair));
  REQUIRE(std::abs(static_cast<double>(counts_of(ids, n)[0]) - expect) < 5 * sd);
}

TEST_CASE("gate: extreme skew with top_k = experts terminates with a permutation per token", "[gate]") {
  for (double s : {10.0, 20.0}) {
    auto gate = moesim::make_synthetic_gate(zipf(s), 256, 256, 1, 5);
    std::vector<int> ids;
    gate->assign(0, 0, 0, 20, ids);
    REQUIRE(ids.size() == 20 * 256);
    REQUIRE(moesim::test::tokens_distinct(ids, 256, 256));
    // p(rank 0) = 1/zeta(s) > 0.999 for s >= 10: the first draw is expert 0.
    REQUIRE(ids[0] == 0);
  }
  auto uniform = moesim::make_synthetic_gate(GateSpec{}, 256, 256, 1, 5);
  std::vector<int> ids;
  uniform->assign(0, 0, 0, 20, ids);
  REQUIRE(moesim::test::tokens_distinct(ids, 256, 256));
}

TEST_CASE("gate: layer_variation moves the hottest expert between layers", "[gate]") {
  auto hottest = [](moesim::Gate& gate, int layer) {
    std::vector<int> ids;
    gate.assign(0, layer, 0, 2000, ids);
    const auto counts = counts_of(ids, 256);
    return static_cast<int>(std::max_element(counts.begin(), counts.end()) - counts.begin());
  };
  auto fixed = moesim::make_synthetic_gate(zipf(2.0), 256, 8, 4, 11);
  auto varied = moesim::make_synthetic_gate(zipf(2.0, true), 256, 8, 4, 11);
  std::vector<int> hot;
  for (int l = 0; l < 4; ++l) {
    // Without variation rank 0 is expert 0 in every layer.
    REQUIRE(hottest(*fixed, l) == 0);
    hot.push_back(hottest(*varied, l));
  }
  std::sort(hot.begin(), hot.end());
  // Four seeded permutations of 256 experts: their rank-0 experts differ (fixed by the seed).
  const auto distinct = std::unique(hot.begin(), hot.end()) - hot.begin();
  REQUIRE(distinct > 1);
}

TEST_CASE("gate: invalid specs throw InputError", "[gate]") {
  using moesim::InputError;
  REQUIRE_THROWS_AS(moesim::make_synthetic_gate(zipf(-0.1), 8, 2, 1, 0), InputError);
  REQUIRE_THROWS_AS(moesim::make_synthetic_gate(zipf(20.5), 8, 2, 1, 0), InputError);
  REQUIRE_THROWS_AS(moesim::make_synthetic_gate(zipf(std::numeric_limits<double>::quiet_NaN()), 8, 2, 1, 0),
                    InputError);
  REQUIRE_THROWS_AS(moesim::make_synthetic_gate(GateSpec{}, 8, 0, 1, 0), InputError);
  REQUIRE_THROWS_AS(moesim::make_synthetic_gate(GateSpec{}, 8, 9, 1, 0), InputError);
  REQUIRE_THROWS_AS(moesim::make_synthetic_gate(GateSpec{}, 0, 1, 1, 0), InputError);
  REQUIRE_THROWS_AS(moesim::make_synthetic_gate(GateSpec{}, 8, 2, 0, 0), InputError);
  REQUIRE_NOTHROW(moesim::make_synthetic_gate(zipf(20.0), 8, 8, 1, 0));
  auto gate = moesim::make_synthetic_gate(GateSpec{}, 8, 2, 2, 0);
  std::vector<int> ids;
  REQUIRE_THROWS_AS(gate->assign(0, 2, 0, 1, ids), moesim::Error);
  REQUIRE_THROWS_AS(gate->assign(0, 0, 0, -1, ids), moesim::Error);
}
