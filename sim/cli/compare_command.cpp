// `moesim compare` (see compare_command.hpp).
#include "cli/compare_command.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "engine/placement_builder.hpp"
#include "engine/simulation.hpp"
#include "io/csv_writer.hpp"
#include "io/metric_registry.hpp"
#include "io/scenario_loader.hpp"
#include "spec/settings.hpp"

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

// compare.csv's metric columns (registry names) and, where compare prints fewer digits than the
// registry, its format; expert_bytes_per_gpu_max (from the results, not a summary metric) follows.
struct CsvColumn {
  std::string_view metric;
  std::string_view format = {};
};
constexpr CsvColumn kCsvColumns[] = {{"step_us_p50"},
                                     {"step_us_p99"},
                                     {"tokens_per_s_total", "{:.1f}"},
                                     {"tokens_per_s_per_gpu"},
                                     {"layer_gpu_load_max_over_mean"},
                                     {"balancedness"},
                                     {"scaleout_bytes_per_step"},
                                     {"hottest_link"},
                                     {"hottest_link_utilization"},
                                     {"dropped_fraction"},
                                     {"straggler_gpu"},
                                     {"straggler_phase"},
                                     {"bottleneck_link"},
                                     {"bottleneck_link_busy_fraction"},
                                     {"bottleneck_link_peak_utilization"}};

// The terminal table's metric columns: two heading lines, width, digits, and the unit shown.
struct TableColumn {
  std::string_view metric;
  std::string_view head, head2;
  int width, digits;
  double (*shown)(double);
};
constexpr double as_is(double v) { return v; }
constexpr TableColumn kTable[] = {
    {"step_us_p50", "step_p50_us", "", 12, 1, as_is},
    {"step_us_p99", "step_p99_us", "", 12, 1, as_is},
    {"tokens_per_s_per_gpu", "tok/s/GPU", "", 14, 1, as_is},
    {"layer_gpu_load_max_over_mean", "layer load", "max/mean", 10, 3, as_is},
    {"balancedness", "balanced", "(avg/max)", 9, 3, as_is},
    {"scaleout_bytes_per_step", "scaleout_GB/", "step", 14, 3, [](double bytes) { return bytes / 1e9; }},
    {"hottest_link_utilization", "hot_link", "util %", 10, 2, [](double u) { return 100 * u; }},
    {"bottleneck_link_busy_fraction", "bneck_link", "busy %", 10, 1, [](double u) { return 100 * u; }},
};

// The table's two heading lines; the experts column comes last.
std::string table_heading() {
  std::string h = fmt::format("{:<16}", "placement"), h2 = fmt::format("{:<16}", "");
  for (const TableColumn& c : kTable) {
    h += fmt::format(" {:>{}}", c.head, c.width);
    h2 += fmt::format(" {:>{}}", c.head2, c.width);
  }
  return h + fmt::format(" {:>11}  {}\n", "experts_GB", "bottleneck link") + h2 + fmt::format(" {:>11}\n", "per GPU");
}

// Every name is checked before any placement runs, so a typo costs nothing.
void check_placement_names(const std::vector<std::string>& placements) {
  for (const std::string& p : placements)
    if (!parse_setting<PlacementKind>(p))
      throw InputError(fmt::format("--placement: unknown placement \"{}\" (expected one of: {}); nothing was run", p,
                                   fmt::join(setting_names<PlacementKind>(), ", ")));
}

int run_compare(const CompareArgs& a) {
  check_placement_names(a.placements);
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
      if (auto note = uneven_experts_note(sc, Simulation::ep_gpus(sc, run.topology)))
        std::cerr << fmt::format("note: {}: {}\n", p, *note);
      write_run(run, (std::filesystem::path(dir) / p).string());
      row.s = run.summary;
      row.expert_GB = run.results.memory_expert_bytes_max.GB();
    } catch (const InputError& e) {
      row.error = e.what();  // recorded, and the other placements still run
    }
    rows.push_back(row);
  }
  if (dir.empty()) dir = "results/compare";

  std::cout << fmt::format("moesim compare: {} ({} placements)\n\n", name, rows.size());
  std::cout << table_heading();
  io::CsvWriter csv;
  csv.text("placement");
  for (const CsvColumn& c : kCsvColumns) csv.text(io::metric(c.metric).name);
  csv.fields({"expert_bytes_per_gpu_max", "error"}).end_row();
  int failed = 0;
  for (const Row& r : rows) {
    csv.text(r.placement);
    if (!r.error.empty()) {
      ++failed;
      std::cout << fmt::format("{:<16} error: {}\n", r.placement, r.error);
      csv.empty(std::size(kCsvColumns) + 1).text(r.error, {.always = true}).end_row();
      continue;
    }
    std::string line = fmt::format("{:<16}", r.placement);
    for (const TableColumn& c : kTable)
      line += fmt::format(" {:>{}.{}f}", c.shown(io::metric_number(io::metric(c.metric), r.s)), c.width, c.digits);
    std::cout << line
              << fmt::format(" {:>11.2f}  {}\n", r.expert_GB,
                             r.s.bottleneck_link.empty()
                                 ? "-"
                                 : fmt::format("{} [{}]", r.s.bottleneck_link, r.s.bottleneck_link_class));
    for (const CsvColumn& c : kCsvColumns) csv.text(io::format_metric(io::metric(c.metric), r.s, c.format));
    csv.number(r.expert_GB * 1e9, "{:.0f}").empty().end_row();
  }
  std::filesystem::create_directories(dir);
  csv.save(std::filesystem::path(dir) / "compare.csv");
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
  c->add_option("--set", args->sets, "override a scenario key")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("-o,--out", args->out_dir, "output directory (default: results/<name>-compare)");
  return [c, args]() { return c->parsed() ? run_compare(*args) : -1; };
}

}  // namespace moesim::cli
