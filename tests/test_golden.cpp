// End-to-end golden result: the smoke scenario's output files must match the recorded ones byte
// for byte (paths into the source tree are normalised). To accept an intended change, run
//   MOESIM_UPDATE_GOLDEN=1 build/moesim_tests "[golden]"
// and review the diff of tests/data/golden/ before committing it.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "app/scenario_run.hpp"
#include "io/scenario_loader.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

std::string read_normalised(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  const std::string src = MOESIM_SOURCE_DIR;
  for (std::size_t at = s.find(src); at != std::string::npos; at = s.find(src, at)) s.replace(at, src.size(), "$SRC");
  return s;
}

}  // namespace

TEST_CASE("smoke scenario matches its golden result", "[golden]") {
  const Scenario sc = io::load_scenario(test::source_path("scenarios/smoke.toml"));
  const auto out = test::scratch_dir("golden");
  write_run(run_scenario(sc), out.string());

  const std::filesystem::path golden = test::source_path("tests/data/golden/smoke");
  const bool update = std::getenv("MOESIM_UPDATE_GOLDEN") != nullptr;
  for (const char* f : {"summary.json", "per_step.csv", "per_layer.csv", "per_gpu.csv", "per_link.csv", "gpu_layer.csv",
                        "per_expert.csv", "timeline.json", "scenario.resolved.toml"}) {
    INFO(f);
    const std::string got = read_normalised(out / f);
    if (update) {
      std::filesystem::create_directories(golden);
      std::ofstream(golden / f, std::ios::binary) << got;
      continue;
    }
    REQUIRE(std::filesystem::exists(golden / f));
    REQUIRE(got == read_normalised(golden / f));
  }
}
