// Load, simulate, summarise one scenario (see scenario_run.hpp).
#include "app/scenario_run.hpp"

#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include "core/error.hpp"
#include "engine/faults.hpp"
#include "io/csv_writer.hpp"
#include "io/placement_io.hpp"
#include "io/profile_io.hpp"
#include "serve/serving_simulation.hpp"
#include "io/request_trace.hpp"
#include "io/results_writer.hpp"
#include "io/topology_loader.hpp"

namespace moesim {

ScenarioRun run_scenario(const Scenario& scenario, const SimulationInputs::NetworkFactory& network,
                         const RunControl* control) {
  // An error about a file as a whole ("path: ...", no line: missing, unreadable, a directory)
  // also names the scenario key that pointed to it.
  const auto load = [](const auto& loader, const std::string& path, const std::string& key_where) {
    try {
      return loader(path);
    } catch (const InputError& e) {
      if (key_where.empty() || !std::string_view(e.what()).starts_with(path + ": ")) throw;
      throw InputError(fmt::format("{}: {}", key_where, e.what()));
    }
  };
  ScenarioRun run{scenario,
                  load(io::load_topology, scenario.topology_path, scenario.topology_where),
                  load(io::load_profile, scenario.profile_path, scenario.profile_where),
                  {},
                  {},
                  {},
                  0,
                  std::nullopt};
  apply_link_faults(run.topology, scenario.faults);
  std::optional<Placement> from_file;
  if (scenario.placement == PlacementKind::from_file)
    from_file = io::load_placement(scenario.placement_file, scenario.model.moe_layers(), scenario.model.routed_experts,
                                   Simulation::ep_gpus(scenario, run.topology));
  if (scenario.serving.enabled) {
    if (!scenario.faults.empty())
      throw InputError(fmt::format("{}: [serving] does not model faults yet; remove the [[faults]] entries",
                                   scenario.file));
    std::vector<Request> trace;
    std::vector<std::string> trace_notes;
    if (!scenario.serving.trace_path.empty()) {
      io::RequestTrace t =
          io::load_request_trace(scenario.serving.trace_path, scenario.serving.trace_format, scenario.serving.trace_time_scale);
      trace = std::move(t.requests);
      trace_notes = std::move(t.notes);
    }
    ServingSimulation serve(run.scenario, run.topology, run.profile, std::move(trace), from_file ? &*from_file : nullptr);
    run.serving = serve.run(control);
    if (run.serving->stopped != RunStop::none) {  // nothing complete to report
      run.results.stopped = run.serving->stopped;
      return run;
    }
    run.serving->notes.insert(run.serving->notes.begin(), trace_notes.begin(), trace_notes.end());
    run.results = std::move(run.serving->steps);
    run.serving->steps = {};
    if (!run.results.steps.empty()) run.summary = summarize(run.results);
    run.summary.has_serving = true;
    run.summary.serving = summarize_serving(*run.serving, scenario.serving.slo_ttft_ms, scenario.serving.slo_tpot_ms);
    run.summary.gpus = run.summary.serving.gpus;
    return run;
  }
  Simulation sim(run.scenario, run.topology, run.profile, {from_file ? &*from_file : nullptr, network, control});
  run.results = sim.run();
  run.placement_toml = io::placement_to_toml(sim.placement());
  // A timed-out run's numbers mean nothing; an interrupted one before its first step has none.
  if (run.results.stopped == RunStop::timeout || run.results.steps.empty()) return run;
  run.summary = summarize(run.results);
  if (!scenario.faults.empty() && run.results.stopped == RunStop::none) {
    // The impact of the faults: the same scenario without them, side by side in the report.
    Scenario healthy = scenario;
    healthy.faults.clear();
    const ScenarioRun base = run_scenario(healthy, network, control);
    if (base.results.stopped != RunStop::none) {
      run.results.stopped = base.results.stopped;  // the caller asked to stop: say so, skip the comparison
      if (base.results.stopped == RunStop::interrupted)
        run.results.notes.push_back("faults: the healthy comparison run was interrupted; no impact figures");
      return run;
    }
    const Summary& h = base.summary;
    const Summary& f = run.summary;
    run.results.notes.push_back(fmt::format(
        "faults ({}): step p50 {:.1f} us vs {:.1f} us healthy ({:+.2f}%), throughput {:.0f} vs {:.0f} tokens/s "
        "({:+.2f}%)",
        scenario.faults.size(), f.step_us_p50, h.step_us_p50, 100 * (f.step_us_p50 / h.step_us_p50 - 1),
        f.tokens_per_s_total, h.tokens_per_s_total, 100 * (f.tokens_per_s_total / h.tokens_per_s_total - 1)));
    run.healthy_step_us_p50 = h.step_us_p50;
  }
  return run;
}

void write_run(const ScenarioRun& run, const std::string& dir) {
  const bool incomplete = run.serving ? run.results.stopped != RunStop::none : run.results.steps.empty();
  if (run.results.stopped == RunStop::timeout || incomplete)
    throw Error(fmt::format("{}: the run stopped before it completed a step; nothing to write into {}",
                            run.scenario.file, dir));
  // placement.toml goes into the same temporary directory, so it is swapped in with the rest.
  io::replace_directory(dir, [&](const std::filesystem::path& tmp) {
    io::write_result_files(
        {run.scenario, run.topology, run.profile, run.results, run.summary, run.serving ? &*run.serving : nullptr}, tmp);
    io::write_file(tmp / "placement.toml", run.placement_toml);
  });
}

}  // namespace moesim
