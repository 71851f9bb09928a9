// `moesim plan` (see plan_command.hpp): a sweep, then a search of its rows.
#include "cli/plan_command.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli/sweep_runner.hpp"
#include "core/error.hpp"
#include "io/csv_text.hpp"
#include "io/metric_registry.hpp"

namespace moesim::cli {

namespace {

struct PlanArgs {
  SweepArgs sweep;
  double target_tokens_per_s = 0;
  double max_step_ms = 0;
  int show = 5;
};

struct Candidate {
  std::string config;  // "key=value, ..." of the varied keys
  int gpus = 0;
  double tokens_per_s = 0;
  double p99_ms = 0;
};

std::vector<Candidate> read_rows(const std::string& csv_path) {
  std::ifstream in(csv_path);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = io::split_csv(line, io::CsvSpaces::keep);
  auto col = [&](std::string_view name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) throw Error(fmt::format("{}: no column {}", csv_path, name));
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t status = col("status"), gpus = col(io::metric("gpus").name),
                    tps = col(io::metric("tokens_per_s_total").name), p99 = col(io::metric("step_us_p99").name);
  std::vector<Candidate> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = io::split_csv(line, io::CsvSpaces::keep);
    if (f.size() != header.size() || f[status] != "ok") continue;
    Candidate c;
    for (std::size_t i = 1; i < status; ++i)
      c.config += fmt::format("{}{}={}", c.config.empty() ? "" : ", ", header[i], f[i]);
    c.gpus = std::stoi(f[gpus]);
    c.tokens_per_s = std::stod(f[tps]);
    c.p99_ms = std::stod(f[p99]) / 1e3;
    rows.push_back(c);
  }
  return rows;
}

// Exit code: an answer (a configuration, or the nearest misses) is 0 when every candidate has a
// result (ok or infeasible); with failed or timed-out candidates it is 2, as the sweep's: one of
// them might have been the cheapest.
int run_plan(const PlanArgs& a) {
  const SweepOutcome sweep = run_sweep(a.sweep);
  std::vector<Candidate> rows = read_rows(sweep.csv_path);
  const auto meets = [&](const Candidate& c) {
    return c.tokens_per_s >= a.target_tokens_per_s && c.p99_ms <= a.max_step_ms;
  };
  // Cheapest first: fewest GPUs, then the most throughput, then the lowest p99.
  std::sort(rows.begin(), rows.end(), [](const Candidate& x, const Candidate& y) {
    if (x.gpus != y.gpus) return x.gpus < y.gpus;
    if (x.tokens_per_s != y.tokens_per_s) return x.tokens_per_s > y.tokens_per_s;
    return x.p99_ms < y.p99_ms;
  });
  std::vector<Candidate> ok;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(ok), meets);
  std::cout << fmt::format("\nplan: at least {:.0f} tokens/s with step p99 <= {} ms; {} of {} configurations meet it\n",
                           a.target_tokens_per_s, a.max_step_ms, ok.size(), rows.size());
  if (sweep.infeasible > 0)
    std::cout << fmt::format("({} more do not fit in GPU memory: status infeasible in {})\n", sweep.infeasible,
                             sweep.csv_path);
  if (sweep.errors + sweep.timeouts > 0)
    std::cout << fmt::format(
        "warning: {} configurations failed and {} timed out (see {}); the plan does not "
        "include them\n",
        sweep.errors, sweep.timeouts, sweep.csv_path);
  if (ok.empty()) {
    // The nearest misses, by how far the worse of the two targets is missed.
    auto miss = [&](const Candidate& c) {
      return std::max(a.target_tokens_per_s / std::max(c.tokens_per_s, 1e-9), c.p99_ms / a.max_step_ms);
    };
    std::sort(rows.begin(), rows.end(), [&](const Candidate& x, const Candidate& y) { return miss(x) < miss(y); });
    std::cout << "no configuration meets both targets; the nearest:\n";
    for (std::size_t i = 0; i < rows.size() && i < 3; ++i)
      std::cout << fmt::format("  {} ({} GPUs): {:.0f} tokens/s ({:+.1f}%), p99 {:.3f} ms ({:+.1f}%)\n", rows[i].config,
                               rows[i].gpus, rows[i].tokens_per_s,
                               100 * (rows[i].tokens_per_s / a.target_tokens_per_s - 1), rows[i].p99_ms,
                               100 * (rows[i].p99_ms / a.max_step_ms - 1));
    return sweep.exit_code();
  }
  std::cout << fmt::format("{:>4}  {:>5}  {:>14}  {:>11}  {}\n", "rank", "GPUs", "tokens/s", "p99 ms", "configuration");
  for (std::size_t i = 0; i < ok.size() && i < static_cast<std::size_t>(a.show); ++i)
    std::cout << fmt::format("{:>4}  {:>5}  {:>14.0f}  {:>11.3f}  {}\n", i + 1, ok[i].gpus, ok[i].tokens_per_s,
                             ok[i].p99_ms, ok[i].config);
  const Candidate& best = ok[0];
  std::cout << fmt::format("\nbest: {} on {} GPUs ({:.0f} tokens/s, p99 {:.3f} ms)\n", best.config, best.gpus,
                           best.tokens_per_s, best.p99_ms);
  if (ok.size() > 1) {
    const Candidate& second = ok[1];
    const std::string why =
        second.gpus > best.gpus
            ? fmt::format("it needs {} GPUs instead of {}", second.gpus, best.gpus)
            : fmt::format("same {} GPUs but {:.0f} tokens/s against {:.0f} ({:.1f}% less)", second.gpus,
                          second.tokens_per_s, best.tokens_per_s, 100 * (1 - second.tokens_per_s / best.tokens_per_s));
    std::cout << fmt::format("runner-up: {} lost because {}\n", second.config, why);
  }
  return sweep.exit_code();
}

}  // namespace

std::function<int()> add_plan_command(CLI::App& app) {
  auto args = std::make_shared<PlanArgs>();
  CLI::App* c = app.add_subcommand("plan", "search a swept space for the cheapest configuration meeting targets");
  c->add_option("scenario", args->sweep.scenario, "scenario TOML file")->required();
  c->add_option("--target-tokens-per-s", args->target_tokens_per_s, "total throughput to reach")
      ->required()
      ->check(finite_positive());
  c->add_option("--max-step-ms", args->max_step_ms, "step latency p99 bound (ms)")
      ->required()
      ->check(finite_positive());
  add_sweep_options(*c, args->sweep);
  c->add_option("--show", args->show, "configurations listed")->check(CLI::Range(1, 1000));
  c->footer(
      "Exit codes: 0 a plan was made (the cheapest configurations meeting the targets, or the nearest misses; "
      "infeasible candidates, which do not fit in GPU memory, are left out); 2 some candidates failed or timed out "
      "(the plan is printed without them), or bad input; 1 internal or I/O error.");
  return [c, args]() { return c->parsed() ? run_plan(*args) : -1; };
}

}  // namespace moesim::cli
