// Routing sources of the calibrator: the synthetic Zipf gate and one step of a trace file.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <set>

#include "cli/calib_args.hpp"
#include "core/error.hpp"
#include "ops/routing.hpp"

using namespace moesim::calib;

namespace {

void require_valid(const Routing& r) {
  REQUIRE(r.ids.size() == static_cast<std::size_t>(r.tokens) * r.top_k);
  REQUIRE(r.weights.size() == r.ids.size());
  for (int t = 0; t < r.tokens; ++t) {
    const auto first = r.ids.begin() + static_cast<std::ptrdiff_t>(t) * r.top_k;
    REQUIRE(std::set<int>(first, first + r.top_k).size() == static_cast<std::size_t>(r.top_k));
    for (int j = 0; j < r.top_k; ++j) REQUIRE((first[j] >= 0 && first[j] < r.experts));
  }
}

}  // namespace

TEST_CASE("synthetic Zipf routing: distinct experts, expert 0 the hottest, weights summing to 1") {
  const GateArg g = parse_gate_arg("zipf:1.2");
  const Routing r = synthetic_routing(g.spec, g.label, g.skew, 16, 2, 1000, 7);
  require_valid(r);
  const std::vector<int> c = r.counts();
  CHECK(std::accumulate(c.begin(), c.end(), 0) == 2000);
  CHECK(std::max_element(c.begin(), c.end()) == c.begin());
  CHECK(r.label == "zipf:1.2");
  CHECK(r.skew == 1.2);
  for (int t = 0; t < r.tokens; ++t) REQUIRE(r.weights[2 * t] + r.weights[2 * t + 1] == Approx(1.0f));
  // Same seed, same routing.
  CHECK(synthetic_routing(g.spec, g.label, g.skew, 16, 2, 1000, 7).ids == r.ids);
}

TEST_CASE("uniform routing spreads the load") {
  const GateArg g = parse_gate_arg("uniform");
  const Routing r = synthetic_routing(g.spec, g.label, g.skew, 8, 2, 4000, 3);
  require_valid(r);
  // 8000 assignments over 8 experts: 1000 each on average; a binomial sd of ~30.
  for (int n : r.counts()) CHECK((n > 850 && n < 1150));
}

TEST_CASE("trace routing reads one step of one layer, ranks concatenated") {
  const std::string path = std::string(MOESIM_SOURCE_DIR) + "/scenarios/traces/smoke.moetrace";
  // smoke.moetrace: 16 experts, top-2, 8 ranks x 32 tokens per layer and step.
  const Routing r = trace_routing(path, 16, 2, 256, 1, 0, 1);
  require_valid(r);
  CHECK(r.label == path);
  CHECK(trace_routing(path, 16, 2, 100, 0, 2, 1).tokens == 100);
  CHECK_THROWS_AS(trace_routing(path, 16, 2, 257, 1, 0, 1), moesim::InputError);  // too few tokens
  CHECK_THROWS_AS(trace_routing(path, 32, 2, 10, 1, 0, 1), moesim::InputError);   // other experts
  CHECK_THROWS_AS(trace_routing(path, 16, 2, 10, 99, 0, 1), moesim::InputError);  // no such step
  CHECK_THROWS_AS(trace_routing(path, 16, 2, 10, 0, 3, 1), moesim::InputError);   // no such layer
}
