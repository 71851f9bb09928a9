// Benchmark: the fixed reference workloads, end to end on one core (scenario loaded, simulated,
// summarised), in each network mode. Prints wall and CPU seconds, token-expert assignments per
// second, flow completions per second and peak RSS. Each workload runs in its own process (this
// program re-executes itself) so that every peak RSS belongs to one workload alone.
// Mode "flow-model" times the flow model alone: the flow-mode run is recorded, then replayed
// through a fresh FlowModel (flow_replay.hpp); its seconds and flows/s are the replay's, its RSS
// mostly the record (10 steps unless --steps says otherwise).
// Usage: bench_workloads [--only NAME] [--mode analytic|flow|flow-model] [--steps N] [--source-dir DIR]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <string>
#include <vector>

#include "app/scenario_run.hpp"
#include "bench_util.hpp"
#include "core/error.hpp"
#include "flow_replay.hpp"
#include "io/scenario_loader.hpp"

#ifndef MOESIM_SOURCE_DIR
#define MOESIM_SOURCE_DIR "."
#endif

namespace {

using moesim::bench::cpu_seconds;
using moesim::bench::peak_rss_mib;

std::vector<std::string> zipf_gate() {
  return {"gate.kind=\"zipf\"", "gate.zipf_exponent=0.6", "gate.layer_variation=true", "gate.groups=0"};
}

struct Workload {
  const char* name;
  const char* scenario;  // relative to the source tree
  int steps;             // default steps (decode: 50)
  std::vector<std::string> overrides;
  bool analytic_only = false;  // scale workloads: the flow model would take far longer
  bool serving = false;        // a [serving] run: no steps to set
};

std::vector<Workload> workloads() {
  return {
      // DeepSeek-V3 decode, one GB200 NVL72 rack, EP72, 128 tokens per GPU, 58 MoE layers.
      // The routing of the benchmark's history (Zipf 0.6 per layer, no group limit), whatever preset
      // the default scenario uses.
      {"decode-nvl72-ep72", "scenarios/default.toml", 50, zipf_gate()},
      // DeepSeek-V3 prefill, EP32 over four HGX H100 nodes, 4096 tokens per GPU, one micro-batch.
      {"prefill-hgx4-ep32", "scenarios/hgx-prefill.toml", 10, {"overlap.mode=\"none\""}},
      // DeepSeek-V3 decode at EP2048 over 29 NVL72 racks (bench/gb200-nvl72-x29.toml), one step.
      {"decode-x29-ep2048",
       "scenarios/default.toml",
       1,
       {"hardware.topology=\"../bench/gb200-nvl72-x29.toml\"", "parallelism.ep=2048", "gate.kind=\"zipf\"",
        "gate.zipf_exponent=0.6", "gate.layer_variation=true", "gate.groups=0"},
       true},
      // Serving: an hour of Poisson traffic (3,000 requests per minute) on one NVL72 rack, EP72; the
      // step engine prices each distinct batch shape (steps column: steps simulated in full).
      {"serve-nvl72-1h", "scenarios/serve-nvl72.toml", 1, {"serving.duration_s=3600"}, true, true},
  };
}

// Records the flow-mode run, replays the record through the flow model alone, and prints the
// replay's figures (assignments and events are the simulation's business: 0 here).
int run_flow_model(const std::string& source_dir, const Workload& w, int steps) {
  std::vector<std::string> overrides = w.overrides;
  overrides.push_back("network.model=\"flow\"");
  overrides.push_back("workload.steps=" + std::to_string(steps));
  overrides.push_back("output.timeline_steps=0");
  overrides.push_back("output.link_activity_steps=0");
  const moesim::Scenario scenario = moesim::io::load_scenario(source_dir + "/" + w.scenario, overrides);
  moesim::bench::FlowRecord record;
  moesim::MessageCost cost;
  const moesim::ScenarioRun run = moesim::run_scenario(scenario, [&](moesim::EventQueue& q, const moesim::Topology& t,
                                                                     moesim::MessageCost c) {
    cost = c;
    return std::make_unique<moesim::bench::RecordingFlowModel>(q, t, std::move(c), scenario.resolve_tolerance, record);
  });
  const moesim::Results& closed = run.results;
  const moesim::Topology& topology = run.topology;
  const moesim::bench::ReplayResult r = moesim::bench::replay_flows(record, topology, cost, scenario.resolve_tolerance);
  if (r.flows != closed.flows)
    throw moesim::Error("flow-model replay delivered " + std::to_string(r.flows) + " flows, the run " +
                        std::to_string(closed.flows));
  std::printf("%-18s %-8s %5d %8.2f %8.2f %12.3g %14.3g %12.3g %10llu %9.1f %12s\n", w.name, "flow-model", steps,
              r.cpu_s, r.cpu_s, 0.0, static_cast<double>(r.flows) / r.cpu_s, 0.0,
              static_cast<unsigned long long>(r.flows), moesim::bench::peak_rss_mib(), "-");
  std::printf("  (replay: %llu solves, the run %llu; last delivery %.1f us)\n",
              static_cast<unsigned long long>(r.solves), static_cast<unsigned long long>(closed.rate_solves),
              static_cast<double>(r.last_ps) * 1e-6);
  std::fflush(stdout);
  return 0;
}

int run_one(const std::string& source_dir, const Workload& w, const std::string& mode, int steps) {
  if (mode == "flow-model") return run_flow_model(source_dir, w, steps);
  std::vector<std::string> overrides = w.overrides;
  overrides.push_back("network.model=\"" + mode + "\"");
  if (!w.serving) overrides.push_back("workload.steps=" + std::to_string(steps));
  overrides.push_back("output.timeline_steps=0");
  overrides.push_back("output.link_activity_steps=0");
  const auto wall0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  const moesim::Scenario scenario = moesim::io::load_scenario(source_dir + "/" + w.scenario, overrides);
  const moesim::ScenarioRun run = moesim::run_scenario(scenario);
  const double cpu = cpu_seconds() - cpu0;
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const auto& r = run.results;
  if (run.serving) {
    const moesim::ServingSummary& v = run.summary.serving;
    // name, mode, steps simulated in full, wall, CPU, then: requests, steps, shapes interpolated,
    // memo error p99 %, TTFT p90 ms, TPOT p90 ms, peak RSS MiB (bench/report.sh reads them in order).
    std::printf("%-18s %-8s %5lld %8.2f %8.2f %9lld %9lld %7lld %6.2f %8.1f %7.2f %9.1f\n", w.name, mode.c_str(),
                static_cast<long long>(v.steps_simulated), wall, cpu, static_cast<long long>(v.completed),
                static_cast<long long>(v.steps), static_cast<long long>(v.shapes_interpolated), 100 * v.memo_error_p99,
                v.ttft_ms_p90, v.tpot_ms_p90, peak_rss_mib());
    std::fflush(stdout);
    return 0;
  }
  std::printf("%-18s %-8s %5d %8.2f %8.2f %12.3g %14.3g %12.3g %10llu %9.1f %12.1f\n", w.name, mode.c_str(), steps,
              wall, cpu, static_cast<double>(r.assignments) / cpu, static_cast<double>(r.flows) / cpu,
              static_cast<double>(r.events) / cpu, static_cast<unsigned long long>(r.flows), peak_rss_mib(),
              run.summary.step_us_p50);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string only, mode, source_dir = MOESIM_SOURCE_DIR;
  int steps = 0;
  bool child = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_workloads: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--only")
      only = value();
    else if (a == "--mode")
      mode = value();
    else if (a == "--steps")
      steps = std::atoi(value().c_str());
    else if (a == "--source-dir")
      source_dir = value();
    else if (a == "--child")
      child = true;
    else {
      std::fprintf(stderr, "usage: %s [--only NAME] [--mode analytic|flow|flow-model] [--steps N] [--source-dir DIR]\n",
                   argv[0]);
      return 2;
    }
  }
  try {
    if (child) {
      for (const Workload& w : workloads())
        if (w.name == only) return run_one(source_dir, w, mode, steps > 0 ? steps : w.steps);
      std::fprintf(stderr, "bench_workloads: unknown workload %s\n", only.c_str());
      return 2;
    }
    std::printf("%-18s %-8s %5s %8s %8s %12s %14s %12s %10s %9s %12s\n", "workload", "network", "steps", "wall_s",
                "cpu_s", "assign/cpu_s", "flows/cpu_s", "events/cpu_s", "flows", "rss_MiB", "step_p50_us");
    std::fflush(stdout);
    for (const Workload& w : workloads()) {
      if (!only.empty() && only != w.name) continue;
      for (const char* m : {"analytic", "flow", "flow-model"}) {
        if (!mode.empty() && mode != m) continue;
        if (w.analytic_only && std::string(m) != "analytic") continue;
        // The flow-model record holds every flow of the run (~40 bytes each): 10 steps at most by default.
        const int default_steps = std::string(m) == "flow-model" ? std::min(w.steps, 10) : w.steps;
        const std::string n = std::to_string(steps > 0 ? steps : default_steps);
        const pid_t pid = fork();
        if (pid < 0) throw moesim::Error("bench_workloads: fork failed");
        if (pid == 0) {
          execl("/proc/self/exe", argv[0], "--child", "--only", w.name, "--mode", m, "--steps", n.c_str(),
                "--source-dir", source_dir.c_str(), static_cast<char*>(nullptr));
          std::_Exit(127);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
          std::fprintf(stderr, "bench_workloads: %s/%s failed\n", w.name, m);
          return 1;
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_workloads: %s\n", e.what());
    return 1;
  }
  return 0;
}
