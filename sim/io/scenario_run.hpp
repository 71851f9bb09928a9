#pragma once
// One scenario, run: its topology and profile loaded from the paths it names, simulated, and
// summarised. Shared by `moesim run` and `moesim compare`.
#include <string>

#include "gpu/profile.hpp"
#include "net/topology.hpp"
#include "report/metrics.hpp"
#include "report/results.hpp"
#include "scenario.hpp"

namespace moesim::io {

struct ScenarioRun {
  Scenario scenario;
  Topology topology;
  Profile profile;
  Results results;
  Summary summary;
  std::string placement_toml;  // the placement used, in the from_file format
  double healthy_step_us_p50 = 0;  // with faults: the same scenario without them
};

// With faults, also runs the healthy scenario and notes the impact. Throws InputError for bad input (files, values, a placement that does not fit), Error otherwise.
ScenarioRun run_scenario(const Scenario& scenario);
// Writes the run's result files into `dir`, plus placement.toml (loadable with
// [placement] kind = "from_file").
void write_run(const ScenarioRun& run, const std::string& dir);

}  // namespace moesim::io
