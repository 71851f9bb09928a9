// `moesim compare` (see compare_command.hpp).
#include "cli/compare_command.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "app/scenario_run.hpp"

namespace moesim::cli {

namespace {

struct CompareArgs {
  std::string scenario;
  std::vector<std::string> placements;
  std::vector<std::string> sets;
  std::string out_dir;
};

struct Row {
  std::string placement;
  std::string error;  // empty when the run succeeded
  Summary s;
  double expert_GB = 0;
};

double balancedness(const Summary& s) { return s.layer_load_max_over_mean > 0 ? 1.0 / s.layer_load_max_over_mean : 0; }

int run_compare(const CompareArgs& a) {
  std::vector<Row> rows;
  std::string name;
  std::string dir = a.out_dir;
  for (const std::string& p : a.placements) {
    Row row{p, "", {}, 0};
    try {
      std::vector<std::string> sets = a.sets;
      sets.push_back("placement.kind=" + p);
      const Scenario sc = io::load_scenario(a.scenario, sets);
      if (dir.empty()) dir = (sc.output_dir.empty() ? "results/" + sc.name : sc.output_dir) + "-compare";
      name = sc.name;
      const ScenarioRun run = run_scenario(sc);
      write_run(run, (std::filesystem::path(dir) / p).string());
      row.s = run.summary;
      row.expert_GB = run.results.memory_expert_bytes_max / 1e9;
    } catch (const InputError& e) {
      row.error = e.what();  // recorded, and the other placements still run
    }
    rows.push_back(row);
  }
  if (dir.empty()) dir = "results/compare";

  std::cout << fmt::format("moesim compare: {} ({} placements)\n\n", name, rows.size());
  std::cout << fmt::format("{:<16} {:>12} {:>12} {:>14} {:>10} {:>9} {:>14} {:>10} {:>11}\n", "placement",
                           "step_p50_us", "step_p99_us", "tok/s/GPU", "layer load", "balanced", "scaleout_GB/", "hot_link",
                           "experts_GB");
  std::cout << fmt::format("{:<16} {:>12} {:>12} {:>14} {:>10} {:>9} {:>14} {:>10} {:>11}\n", "", "", "", "", "max/mean",
                           "(avg/max)", "step", "util %", "per GPU");
  std::string csv =
      "placement,step_us_p50,step_us_p99,tokens_per_s_total,tokens_per_s_per_gpu,layer_gpu_load_max_over_mean,"
      "balancedness,scaleout_bytes_per_step,hottest_link,hottest_link_utilization,expert_bytes_per_gpu_max,error\n";
  int failed = 0;
  for (const Row& r : rows) {
    if (!r.error.empty()) {
      ++failed;
      std::cout << fmt::format("{:<16} error: {}\n", r.placement, r.error);
      csv += fmt::format("{},,,,,,,,,,,\"{}\"\n", r.placement, r.error);
      continue;
    }
    const Summary& s = r.s;
    std::cout << fmt::format("{:<16} {:>12.1f} {:>12.1f} {:>14.1f} {:>10.3f} {:>9.3f} {:>14.3f} {:>10.2f} {:>11.2f}\n",
                             r.placement, s.step_us_p50, s.step_us_p99, s.tokens_per_s_per_gpu, s.layer_load_max_over_mean,
                             balancedness(s), s.scaleout_bytes_per_step / 1e9, 100 * s.hottest_link_utilization,
                             r.expert_GB);
    csv += fmt::format("{},{:.4f},{:.4f},{:.1f},{:.2f},{:.6f},{:.6f},{:.0f},{},{:.6f},{:.0f},\n", r.placement,
                       s.step_us_p50, s.step_us_p99, s.tokens_per_s_total, s.tokens_per_s_per_gpu,
                       s.layer_load_max_over_mean, balancedness(s), s.scaleout_bytes_per_step, s.hottest_link,
                       s.hottest_link_utilization, r.expert_GB * 1e9);
  }
  std::filesystem::create_directories(dir);
  const auto path = std::filesystem::path(dir) / "compare.csv";
  std::ofstream(path) << csv;
  std::cout << fmt::format("\ncompare.csv and each placement's results written to {}/\n", dir);
  return failed > 0 ? 2 : 0;
}

}  // namespace

std::function<int()> add_compare_command(CLI::App& app) {
  auto args = std::make_shared<CompareArgs>();
  CLI::App* c = app.add_subcommand("compare", "run a scenario under several placements, side by side");
  c->add_option("scenario", args->scenario, "scenario TOML file")->required();
  c->add_option("--placement", args->placements, "placements to compare, comma-separated")
      ->required()
      ->delimiter(',')
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("--set", args->sets, "override a scenario key")->expected(1)->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("-o,--out", args->out_dir, "output directory (default: results/<name>-compare)");
  return [c, args]() { return c->parsed() ? run_compare(*args) : -1; };
}

}  // namespace moesim::cli
