// Placement strategies inside the simulator: on skewed routing the load-aware strategies beat
// contiguous on the figures they target.
#include <catch2/catch.hpp>

#include "io/scenario_loader.hpp"
#include "io/scenario_run.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

Summary run_smoke(const std::vector<std::string>& sets) {
  return io::run_scenario(io::load_scenario(test::source_path("scenarios/smoke.toml"), sets)).summary;
}

}  // namespace

TEST_CASE("greedy and redundant placements balance a skewed gate better than contiguous", "[placement]") {
  // Zipf 1.2 without per-layer variation: experts 0 and 1 are hot in every layer.
  const std::vector<std::string> skew{"gate.kind=zipf", "gate.zipf_exponent=1.2", "gate.layer_variation=false"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), skew.begin(), skew.end());
    return run_smoke(extra);
  };
  const Summary contiguous = with({"placement.kind=contiguous"});
  const Summary greedy = with({"placement.kind=greedy"});
  // 16 experts + 8 replicas = 24 slots = 3 per GPU.
  const Summary redundant = with({"placement.kind=redundant", "placement.redundant_slots=8"});
  REQUIRE(greedy.layer_load_max_over_mean < contiguous.layer_load_max_over_mean);
  REQUIRE(redundant.layer_load_max_over_mean < greedy.layer_load_max_over_mean);
  REQUIRE(redundant.step_us_mean < contiguous.step_us_mean);
}
