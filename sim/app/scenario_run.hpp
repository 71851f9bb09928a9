#pragma once
// The one wiring path: a scenario's topology, profile and placement loaded from the paths it names,
// its link faults applied, simulated and summarised. `moesim run`, `compare`, `sweep`, the tests
// and the benchmarks all run scenarios through it.
#include <optional>
#include <string>

#include "engine/results.hpp"
#include "engine/simulation.hpp"
#include "gpu/profile.hpp"
#include "net/topology.hpp"
#include "report/metrics.hpp"
#include "serve/serving_results.hpp"
#include "spec/scenario.hpp"

namespace moesim {

struct ScenarioRun {
  Scenario scenario;
  Topology topology;
  Profile profile;
  Results results;
  Summary summary;
  std::string placement_toml;      // the placement used, in the from_file format
  double healthy_step_us_p50 = 0;  // with faults: the same scenario without them
  std::optional<ServingResults> serving;  // [serving]: the request-level results (results: its full steps)
};

// A scenario with [serving] runs the serving simulation (serve/) instead of fixed steps.
// With faults, also runs the healthy scenario and notes the impact. `network`, when given, builds
// the network model instead of the scenario's (benchmarks record flows through it); `control`, when
// given, can stop the run (results.stopped says why; a timed-out run has no summary). Throws
// InputError for bad input (files, values, a placement that does not fit), Error otherwise.
ScenarioRun run_scenario(const Scenario& scenario, const SimulationInputs::NetworkFactory& network = {},
                         const RunControl* control = nullptr);
// Writes the run's result files, plus placement.toml (loadable with [placement] kind =
// "from_file"), into a temporary directory beside `dir` and swaps it in whole: a failed write leaves
// the previous results as they were. An existing `dir` that is not empty and holds no summary.json
// is refused (InputError), not replaced.
void write_run(const ScenarioRun& run, const std::string& dir);

}  // namespace moesim
