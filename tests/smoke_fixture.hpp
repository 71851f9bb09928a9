#pragma once
// The smoke scenario (scenarios/smoke.toml, with --set overrides) and the topology and profile it
// names, loaded for tests that run or adjust them in code.
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "app/scenario_run.hpp"
#include "io/profile_io.hpp"
#include "io/scenario_loader.hpp"
#include "io/topology_loader.hpp"
#include "test_util.hpp"

namespace moesim::test {

struct SmokeFixture {
  Scenario scenario;
  Topology topology;
  Profile profile;
  explicit SmokeFixture(const std::vector<std::string>& sets = {})
      : scenario(io::load_scenario(source_path("scenarios/smoke.toml"), sets)),
        topology(io::load_topology(scenario.topology_path)),
        profile(io::load_profile(scenario.profile_path)) {}
  Results run() const { return run_scenario(scenario).results; }
};

// smoke.toml's text with its relative paths made absolute, to append to (faults) or override.
inline std::string smoke_text() {
  std::ifstream in(source_path("scenarios/smoke.toml"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  for (const char* rel : {"../topologies", "../calibrate"}) text.replace(text.find(rel), 2, MOESIM_SOURCE_DIR);
  return text;
}

}  // namespace moesim::test
