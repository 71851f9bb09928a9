// Load, simulate, summarise one scenario (see scenario_run.hpp).
#include "io/scenario_run.hpp"

#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "io/placement_io.hpp"
#include "io/profile_io.hpp"
#include "io/results_writer.hpp"
#include "io/topology_loader.hpp"
#include "simulation.hpp"

namespace moesim::io {

ScenarioRun run_scenario(const Scenario& scenario) {
  ScenarioRun run{scenario, load_topology(scenario.topology_path), load_profile(scenario.profile_path), {}, {}, {}};
  Simulation sim(run.scenario, run.topology, run.profile);
  run.results = sim.run();
  run.placement_toml = placement_to_toml(sim.placement());
  run.summary = summarize(run.results);
  return run;
}

void write_run(const ScenarioRun& run, const std::string& dir) {
  write_results({run.scenario, run.topology, run.profile, run.results, run.summary}, dir);
  std::ofstream out(std::filesystem::path(dir) / "placement.toml");
  out << run.placement_toml;
  if (!out) throw Error("cannot write " + dir + "/placement.toml");
}

}  // namespace moesim::io
