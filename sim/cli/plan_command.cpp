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
  // Serving plans: the request rate to serve, the latency SLOs at a percentile, an optional price.
  double rate_per_s = 0;
  double max_ttft_ms = 0, max_tpot_ms = 0;
  int percentile = 90;
  double gpu_hour_price = 0;
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

struct ServingCandidate {
  std::string config;
  int gpus = 0;
  double ttft_ms = 0, tpot_ms = 0;  // at the plan's percentile
  double out_per_gpu = 0;           // output tokens/s per GPU
  double rate = 0;                  // completed requests/s
  double cost_per_mtok = 0;         // price per million output tokens (0 without a price)
};

std::vector<ServingCandidate> read_serving_rows(const std::string& csv_path, int pct, double price) {
  std::ifstream in(csv_path);
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = io::split_csv(line, io::CsvSpaces::keep);
  auto col = [&](const std::string& name) {
    const auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) throw Error(fmt::format("{}: no column {}", csv_path, name));
    return static_cast<std::size_t>(it - header.begin());
  };
  const std::size_t status = col("status"), gpus = col("gpus"), ttft = col(fmt::format("ttft_ms_p{}", pct)),
                    tpot = col(fmt::format("tpot_ms_p{}", pct)), out = col("output_tokens_per_s_per_gpu"),
                    rate = col("request_rate_per_s");
  std::vector<ServingCandidate> rows;
  while (std::getline(in, line)) {
    const std::vector<std::string> f = io::split_csv(line, io::CsvSpaces::keep);
    if (f.size() != header.size() || f[status] != "ok") continue;
    ServingCandidate c;
    for (std::size_t i = 1; i < status; ++i)
      c.config += fmt::format("{}{}={}", c.config.empty() ? "" : ", ", header[i], f[i]);
    if (c.config.empty()) c.config = "the scenario as given";
    c.gpus = std::stoi(f[gpus]);
    c.ttft_ms = std::stod(f[ttft]);
    c.tpot_ms = std::stod(f[tpot]);
    c.out_per_gpu = std::stod(f[out]);
    c.rate = std::stod(f[rate]);
    // GPU-hours per million output tokens: gpus / (3600 x output tokens/s) x 1e6, at the price.
    if (price > 0 && c.out_per_gpu > 0) c.cost_per_mtok = price * 1e6 / (3600 * c.out_per_gpu);
    rows.push_back(c);
  }
  return rows;
}

// "fewest GPUs for R requests/s at TTFT pN <= A ms and TPOT pN <= B ms" (or the cheapest per
// million output tokens at a GPU-hour price), over a sweep of the deployment's shape.
int run_serving_plan(PlanArgs a) {
  a.sweep.sets.push_back(fmt::format("serving.rate_per_s={}", a.rate_per_s));
  const SweepOutcome sweep = run_sweep(a.sweep);
  std::vector<ServingCandidate> rows = read_serving_rows(sweep.csv_path, a.percentile, a.gpu_hour_price);
  const bool by_cost = a.gpu_hour_price > 0;
  const auto meets = [&](const ServingCandidate& c) {
    return (a.max_ttft_ms <= 0 || c.ttft_ms <= a.max_ttft_ms) && (a.max_tpot_ms <= 0 || c.tpot_ms <= a.max_tpot_ms);
  };
  std::sort(rows.begin(), rows.end(), [&](const ServingCandidate& x, const ServingCandidate& y) {
    if (by_cost && x.cost_per_mtok != y.cost_per_mtok) return x.cost_per_mtok < y.cost_per_mtok;
    if (x.gpus != y.gpus) return x.gpus < y.gpus;
    return x.tpot_ms < y.tpot_ms;
  });
  std::vector<ServingCandidate> ok;
  std::copy_if(rows.begin(), rows.end(), std::back_inserter(ok), meets);
  const std::string slo =
      fmt::format("TTFT p{} <= {} ms, TPOT p{} <= {} ms", a.percentile, a.max_ttft_ms, a.percentile, a.max_tpot_ms);
  std::cout << fmt::format("\nplan: {} requests/s with {}; {} of {} configurations meet it\n", a.rate_per_s, slo,
                           ok.size(), rows.size());
  if (sweep.infeasible > 0)
    std::cout << fmt::format("({} more do not fit: their GPUs, or GPU memory; status infeasible in {})\n",
                             sweep.infeasible, sweep.csv_path);
  if (sweep.errors + sweep.timeouts > 0)
    std::cout << fmt::format(
        "warning: {} configurations failed and {} timed out (see {}); the plan does not include "
        "them\n",
        sweep.errors, sweep.timeouts, sweep.csv_path);
  const auto line = [&](std::size_t rank, const ServingCandidate& c) {
    return fmt::format("{:>4}  {:>5}  {:>10.1f}  {:>10.2f}  {:>12.1f}{}  {}\n", rank, c.gpus, c.ttft_ms, c.tpot_ms,
                       c.out_per_gpu, by_cost ? fmt::format("  {:>10.3f}", c.cost_per_mtok) : "", c.config);
  };
  const std::string head = fmt::format("{:>4}  {:>5}  {:>10}  {:>10}  {:>12}{}  {}\n", "rank", "GPUs",
                                       fmt::format("TTFT p{}", a.percentile), fmt::format("TPOT p{}", a.percentile),
                                       "out tok/s/GPU", by_cost ? "   $/Mtoken" : "", "configuration");
  if (ok.empty()) {
    auto miss = [&](const ServingCandidate& c) {
      return std::max(a.max_ttft_ms > 0 ? c.ttft_ms / a.max_ttft_ms : 0,
                      a.max_tpot_ms > 0 ? c.tpot_ms / a.max_tpot_ms : 0);
    };
    std::sort(rows.begin(), rows.end(), [&](const auto& x, const auto& y) { return miss(x) < miss(y); });
    std::cout << "no configuration meets the SLOs; the nearest:\n" << head;
    for (std::size_t i = 0; i < rows.size() && i < 3; ++i) std::cout << line(i + 1, rows[i]);
    return sweep.exit_code();
  }
  std::cout << head;
  for (std::size_t i = 0; i < ok.size() && i < static_cast<std::size_t>(a.show); ++i) std::cout << line(i + 1, ok[i]);
  const ServingCandidate& best = ok[0];
  std::cout << fmt::format(
      "\nbest: {} on {} GPUs (TTFT p{} {:.1f} ms, TPOT p{} {:.2f} ms, {:.1f} output tokens/s per GPU)\n", best.config,
      best.gpus, a.percentile, best.ttft_ms, a.percentile, best.tpot_ms, best.out_per_gpu);
  if (ok.size() > 1) {
    const ServingCandidate& second = ok[1];
    std::string why;
    if (by_cost && second.cost_per_mtok != best.cost_per_mtok)
      why = fmt::format("it costs {:.3f} per million output tokens instead of {:.3f}", second.cost_per_mtok,
                        best.cost_per_mtok);
    else if (second.gpus > best.gpus)
      why = fmt::format("it needs {} GPUs instead of {}", second.gpus, best.gpus);
    else
      why = fmt::format("same {} GPUs but TPOT p{} {:.2f} ms against {:.2f}", second.gpus, a.percentile, second.tpot_ms,
                        best.tpot_ms);
    std::cout << fmt::format("runner-up: {} lost because {}\n", second.config, why);
  }
  return sweep.exit_code();
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
  auto* tps =
      c->add_option("--target-tokens-per-s", args->target_tokens_per_s, "total throughput to reach (step plans)")
          ->check(finite_positive());
  auto* step = c->add_option("--max-step-ms", args->max_step_ms, "step latency p99 bound in ms (step plans)")
                   ->check(finite_positive());
  auto* rate = c->add_option("--rate", args->rate_per_s,
                             "serving plans (a scenario with [serving]): requests/s to serve (sets serving.rate_per_s)")
                   ->check(finite_positive());
  c->add_option("--max-ttft-ms", args->max_ttft_ms, "serving: time-to-first-token bound at --percentile")
      ->check(finite_positive())
      ->needs(rate);
  c->add_option("--max-tpot-ms", args->max_tpot_ms, "serving: time-per-output-token bound at --percentile")
      ->check(finite_positive())
      ->needs(rate);
  c->add_option("--percentile", args->percentile, "serving: the SLOs' percentile, 50, 90 or 99")
      ->check(CLI::IsMember({50, 90, 99}))
      ->needs(rate);
  c->add_option("--gpu-hour-price", args->gpu_hour_price,
                "serving: rank by cost per million output tokens at this price per GPU-hour instead of by GPUs")
      ->check(finite_positive())
      ->needs(rate);
  tps->needs(step)->excludes(rate);
  step->needs(tps)->excludes(rate);
  c->callback([c, tps, rate] {
    if (tps->count() == 0 && rate->count() == 0)
      throw CLI::RequiredError("--target-tokens-per-s and --max-step-ms (step plans), or --rate (serving plans)");
    (void)c;
  });
  add_sweep_options(*c, args->sweep);
  c->add_option("--show", args->show, "configurations listed")->check(CLI::Range(1, 1000));
  c->footer(
      "Exit codes: 0 a plan was made (the cheapest configurations meeting the targets, or the nearest misses; "
      "infeasible candidates, which do not fit in GPU memory, are left out); 2 some candidates failed or timed out "
      "(the plan is printed without them), or bad input; 1 internal or I/O error.");
  return [c, args]() {
    if (!c->parsed()) return -1;
    return args->rate_per_s > 0 ? run_serving_plan(*args) : run_plan(*args);
  };
}

}  // namespace moesim::cli
