// Load, simulate, summarise one scenario (see scenario_run.hpp).
#include "io/scenario_run.hpp"

#include "io/profile_io.hpp"
#include "io/results_writer.hpp"
#include "io/topology_loader.hpp"
#include "simulation.hpp"

namespace moesim::io {

ScenarioRun run_scenario(const Scenario& scenario) {
  ScenarioRun run{scenario, load_topology(scenario.topology_path), load_profile(scenario.profile_path), {}, {}};
  Simulation sim(run.scenario, run.topology, run.profile);
  run.results = sim.run();
  run.summary = summarize(run.results);
  return run;
}

void write_run(const ScenarioRun& run, const std::string& dir) {
  write_results({run.scenario, run.topology, run.profile, run.results, run.summary}, dir);
}

}  // namespace moesim::io
