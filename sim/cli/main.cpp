// The `moesim` command: run a scenario, inspect a topology. Exit codes: 0 ok, 1 internal or I/O
// error, 2 bad input (file, key or value), with the message naming the place.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/scenario_run.hpp"
#include "app/summary_text.hpp"
#include "cli/comm_command.hpp"
#include "cli/compare_command.hpp"
#include "cli/plan_command.hpp"
#include "cli/run_progress.hpp"
#include "cli/sweep_comm.hpp"
#include "cli/sweep_command.hpp"
#include "cli/trace_commands.hpp"
#include "core/error.hpp"
#include "engine/placement_builder.hpp"
#include "engine/simulation.hpp"
#include "io/scenario_loader.hpp"
#include "io/scenario_schema.hpp"
#include "io/topology_loader.hpp"
#include "report/topology_report.hpp"

namespace {

struct RunArgs {
  std::string scenario;
  std::vector<std::string> sets;
  std::string out_dir;
  bool quiet = false;
};

// Exit code of a run that Ctrl-C cut short (128 + SIGINT, as shells report it).
constexpr int kInterruptedExit = 130;

int run_scenario(const RunArgs& a) {
  const moesim::Scenario scenario = moesim::io::load_scenario(a.scenario, a.sets);
  moesim::cli::RunProgressLine progress;
  const moesim::ScenarioRun run = moesim::run_scenario(scenario, {}, &progress.control());
  const moesim::Scenario& sc = run.scenario;
  if (run.serving && run.results.stopped != moesim::RunStop::none) {
    std::cerr << "interrupted: a serving run has no partial results; nothing written\n";
    return kInterruptedExit;
  }
  if (run.results.steps.empty() && !run.serving) {
    std::cerr << "interrupted before the first step completed; nothing written\n";
    return kInterruptedExit;
  }
  // Also in the summary's notes, but a -q run or a script should not miss it.
  if (auto note = moesim::uneven_experts_note(sc, moesim::Simulation::ep_gpus(sc, run.topology)))
    std::cerr << "note: " << *note << "\n";
  const std::string dir = !a.out_dir.empty()       ? a.out_dir
                          : !sc.output_dir.empty() ? sc.output_dir
                                                   : "results/" + sc.name;
  moesim::write_run(run, dir);
  if (!a.quiet) {
    const std::string prov = fmt::format("{} ({})", run.profile.meta.device, run.profile.meta.source);
    if (run.serving) std::cout << moesim::serving_text(sc, *run.serving, run.summary.serving);
    if (!run.results.steps.empty())
      std::cout << moesim::summary_text({sc, run.topology.name(), prov, run.results, run.summary});
    std::cout << fmt::format(
        "\nresults written to {}/ (summary.json, per_*.csv, timeline.json, scenario.resolved.toml)\n", dir);
  }
  if (run.results.stopped != moesim::RunStop::none) {
    std::cerr << fmt::format("interrupted: {} of {} steps written to {} (marked partial in summary.json)\n",
                             run.results.steps.size(), run.results.steps_requested, dir);
    return kInterruptedExit;
  }
  return 0;
}

int topo_show(const std::string& file, const std::string& dot) {
  const moesim::Topology topo = moesim::io::load_topology(file);
  std::cout << moesim::topology_summary_text(topo.summarize());
  if (!dot.empty()) {
    std::ofstream out(dot);
    topo.write_dot(out);
    if (!out) throw moesim::Error(fmt::format("cannot write {}", dot));
    std::cout << fmt::format("graphviz written to {}\n", dot);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // Under mpirun/srun (and an MPI build) sweeps spread over the ranks; finalised on every exit path.
  struct MpiSession {
    bool on;
    ~MpiSession() {
      if (on) moesim::cli::mpi_finish();
    }
  } const mpi{moesim::cli::mpi_start(argc, argv)};

  CLI::App app{"moesim: discrete-event simulator of Mixture-of-Experts expert parallelism on GPU clusters"};
  app.require_subcommand(1);
  app.set_version_flag(
      "--version", fmt::format("moesim {} (commit {}, {} build)", MOESIM_VERSION, MOESIM_COMMIT, MOESIM_BUILD_TYPE));

  RunArgs run_args;
  CLI::App* run = app.add_subcommand("run", "run a scenario and write its report");
  run->add_option("scenario", run_args.scenario, "scenario TOML file")->required();
  run->add_option("--set", run_args.sets,
                  "override a scenario key (`moesim keys` lists them), e.g. --set workload.tokens_per_gpu=256")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  run->add_option("-o,--out", run_args.out_dir, "output directory (default: [output] dir, else results/<name>)");
  run->add_flag("-q,--quiet", run_args.quiet, "do not print the summary");

  CLI::App* topo = app.add_subcommand("topo", "inspect topology files");
  topo->require_subcommand(1);
  std::string topo_file, dot_file;
  CLI::App* show = topo->add_subcommand("show", "print a topology's summary");
  show->add_option("file", topo_file, "topology TOML file")->required();
  show->add_option("--dot", dot_file, "also write Graphviz to this file");

  bool keys_markdown = false;
  CLI::App* keys =
      app.add_subcommand("keys", "list every scenario key: type, range, default, meaning (what --set takes)");
  keys->add_flag("--markdown", keys_markdown, "as the Markdown table of scenarios/README.md");

  const auto run_trace = moesim::cli::add_trace_commands(app);
  const auto run_compare = moesim::cli::add_compare_command(app);
  const auto run_sweep = moesim::cli::add_sweep_command(app);
  const auto run_plan = moesim::cli::add_plan_command(app);
  const auto run_comm = moesim::cli::add_comm_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // usage errors are bad input too
  }
  try {
    if (run->parsed()) return run_scenario(run_args);
    if (show->parsed()) return topo_show(topo_file, dot_file);
    if (keys->parsed()) {
      std::cout << (keys_markdown ? moesim::io::scenario_keys_markdown() : moesim::io::scenario_keys_text());
      return 0;
    }
    if (run_trace()) return 0;
    if (const int rc = run_compare(); rc >= 0) return rc;
    if (const int rc = run_sweep(); rc >= 0) return rc;
    if (const int rc = run_plan(); rc >= 0) return rc;
    if (const int rc = run_comm(); rc >= 0) return rc;
  } catch (const moesim::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
