// Kernel jitter: the profile's measured spread of kernel times drawn per launch and GPU (seeded),
// its mapping from kernels to phases, and a profile without measured spreads refused.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "gpu/compute_model.hpp"
#include "io/profile_io.hpp"
#include "smoke_fixture.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

double mean_step_ps(const Results& r) {
  double sum = 0;
  for (const StepResult& s : r.steps) sum += static_cast<double>(s.step_ps());
  return r.steps.empty() ? 0 : sum / static_cast<double>(r.steps.size());
}

}  // namespace

TEST_CASE("kernel jitter is seeded, and each layer waits for its slowest GPU's draw", "[jitter]") {
  const test::SmokeFixture off({"workload.steps=20"});
  const test::SmokeFixture on({"workload.steps=20", "hardware.kernel_jitter=true"});
  REQUIRE(!on.profile.kernels_cv.empty());  // the measured H100 profile has its spreads
  const Results base = off.run();
  const Results a = on.run();
  const Results b = on.run();
  REQUIRE(a.steps.size() == 20);
  REQUIRE(b.steps.size() == 20);
  bool moved = false;
  for (std::size_t i = 0; i < a.steps.size(); ++i) {
    CHECK(a.steps[i].step_ps() == b.steps[i].step_ps());  // same seed, same draws
    moved = moved || a.steps[i].step_ps() != base.steps[i].step_ps();
  }
  CHECK(moved);
  // Spreads of a few percent, symmetric per kernel; but a layer ends with the slowest of the 8
  // GPUs' draws, so the mean step grows, by less than the spreads' few percent.
  CHECK(mean_step_ps(a) > mean_step_ps(base));
  CHECK(mean_step_ps(a) < 1.1 * mean_step_ps(base));
  const test::SmokeFixture reseeded({"workload.steps=20", "hardware.kernel_jitter=true", "seed=7"});
  const test::SmokeFixture reseeded_off({"workload.steps=20", "seed=7"});
  CHECK(mean_step_ps(reseeded.run()) > mean_step_ps(reseeded_off.run()));
}

TEST_CASE("kernel jitter maps kernel spreads to phases, others take their median", "[jitter]") {
  const test::SmokeFixture f;
  Profile p = f.profile;
  p.kernels_cv = {{"gate", 0.03}, {"permute", 0.02}, {"expert", 0.01}, {"combine", 0.05}};
  const ComputeModel cm(p, f.scenario.model);
  CHECK(cm.jitter_cv(Phase::gate) == 0.03);  // the larger of gate and permute
  CHECK(cm.jitter_cv(Phase::experts) == 0.01);
  CHECK(cm.jitter_cv(Phase::reduce) == 0.05);
  CHECK(cm.jitter_cv(Phase::attention) == 0.03);  // median of 0.01, 0.02, 0.03, 0.05 (upper)
  p.kernels_cv.clear();
  CHECK(ComputeModel(p, f.scenario.model).jitter_cv(Phase::attention) == 0);
}

TEST_CASE("kernel jitter needs measured spreads, unknown spreads are located errors", "[jitter]") {
  const std::string datasheet = test::source_path("calibrate/profiles/h100-sxm-datasheet.toml");
  const test::SmokeFixture f({"hardware.profile=\"" + datasheet + "\"", "hardware.kernel_jitter=true"});
  REQUIRE_THROWS_WITH(f.run(), Catch::Contains("hardware.kernel_jitter") && Catch::Contains("spreads"));
  const auto dir = test::scratch_dir("jitter");
  std::ifstream in(datasheet);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str() + "\n[kernels]\nwarp_cv = 0.1\n";
  const std::string bad = test::write_file(dir, "bad.toml", text);
  REQUIRE_THROWS_WITH(io::load_profile(bad), Catch::Contains("warp_cv") && Catch::Contains("unknown kernel"));
}
