// `moesim sweep` (see sweep_command.hpp) and the sweep engine it shares with `plan` (sweep_runner.hpp).
#include "cli/sweep_command.hpp"
#include "cli/sweep_comm.hpp"
#include "cli/sweep_lock.hpp"
#include "cli/sweep_rows.hpp"
#include "cli/sweep_runner.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "engine/run_control.hpp"
#include "io/csv_writer.hpp"
#include "io/scenario_loader.hpp"

namespace moesim::cli {

namespace {

constexpr double kNoTimeoutS = 1e9;  // longer limits (31 years) would overflow the clock: none

std::vector<std::string> overrides_for(const SweepArgs& a, const SweepAxes& axes, std::size_t id) {
  std::vector<std::string> o = a.sets;  // the swept values come last, so they win over --set
  const std::vector<std::string> values = axes.values(id);
  for (std::size_t k = 0; k < values.size(); ++k) o.push_back(axes.keys()[k] + "=" + values[k]);
  return o;
}

// results/<name>-sweep; the name comes from the scenario with the --set overrides (or, if that
// alone does not validate, with run 0's values too).
std::string default_dir(const SweepArgs& a, const SweepAxes& axes) {
  try {
    return "results/" + io::load_scenario(a.scenario, a.sets).name + "-sweep";
  } catch (const InputError&) {
    try {
      return "results/" + io::load_scenario(a.scenario, overrides_for(a, axes, 0)).name + "-sweep";
    } catch (const InputError&) {}
    throw;  // the error of the scenario itself, e.g. a missing file
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Run `id`'s scenario and the hash that identifies it in sweep.csv: of its resolved TOML, or,
// when it does not load, of the error (the row it gives), so that --resume can tell either apart.
struct LoadedRun {
  std::optional<Scenario> scenario;
  std::string hash;
  std::string error;
};

LoadedRun load_run(const SweepArgs& a, const SweepAxes& axes, std::size_t id) {
  try {
    Scenario sc = io::load_scenario(a.scenario, overrides_for(a, axes, id));
    std::string hash = text_hash(io::scenario_to_toml(sc));
    return {std::move(sc), std::move(hash), ""};
  } catch (const std::exception& e) {
    return {std::nullopt, text_hash(std::string("not loaded: ") + e.what()), e.what()};
  }
}

// Run 0's resolved scenario, kept beside sweep.csv so that --resume can name what differs when
// a row's scenario hash does not match (the swept values are checked apart: the rest is common).
void write_run0(const LoadedRun& r, const std::filesystem::path& path) {
  if (r.scenario)
    io::write_file(path, io::scenario_to_toml(*r.scenario));
  else
    std::filesystem::remove(path);
}

std::string run0_difference(const LoadedRun& r, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in || !r.scenario) return "";
  const std::string there{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return toml_difference(there, io::scenario_to_toml(*r.scenario));
}

struct RunRow {
  std::string row;
  RunStatus status = RunStatus::error;
};

// Runs one configuration; every outcome is a row, so the other runs go on.
RunRow run_one(const SweepArgs& a, const SweepAxes& axes, std::size_t id, bool serving) {
  const auto t_run = std::chrono::steady_clock::now();
  LoadedRun r = load_run(a, axes, id);
  const auto row = [&](RunStatus status, const Summary* s, const std::string& error) {
    return RunRow{format_row(axes, id, status, s, seconds_since(t_run), r.hash, error, serving), status};
  };
  if (!r.scenario) return row(RunStatus::error, nullptr, r.error);
  RunControl control;  // the deadline counts from the start of the run, loading included
  if (a.run_timeout_s > 0 && a.run_timeout_s < kNoTimeoutS)
    control.deadline =
        t_run + std::chrono::duration_cast<RunControl::Clock::duration>(std::chrono::duration<double>(a.run_timeout_s));
  try {
    const ScenarioRun run = run_scenario(*r.scenario, {}, &control);
    if (run.results.stopped == RunStop::timeout)
      return row(RunStatus::timeout, nullptr,
                 fmt::format("stopped at --run-timeout {} s (wall clock) before its {} steps completed",
                             a.run_timeout_s, r.scenario->workload.steps));
    return row(RunStatus::ok, &run.summary, "");
  } catch (const Infeasible& e) {  // an answer about this configuration, not a failure
    return row(RunStatus::infeasible, nullptr, e.what());
  } catch (const std::exception& e) {  // InputError, Error or worse: recorded, the others go on
    return row(RunStatus::error, nullptr, e.what());
  }
}

// MPI ranks > 0: run this rank's share on local threads; the main thread sends rows to rank 0.
int run_share(const SweepArgs& a, const SweepAxes& axes, const std::vector<std::size_t>& pending, const SweepComm& comm,
              bool serving) {
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < pending.size(); ++i)
    if (static_cast<int>(i % static_cast<std::size_t>(comm.size() - 1)) == comm.rank() - 1) mine.push_back(pending[i]);
  std::mutex mu;
  std::vector<RunRow> ready;
  std::atomic<std::size_t> next{0};
  std::atomic<int> running{0};
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t jobs =
      std::max<std::size_t>(1, std::min<std::size_t>(a.jobs > 0 ? std::size_t(a.jobs) : hw, mine.size()));
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < jobs && !mine.empty(); ++t) {
    ++running;
    threads.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < mine.size();) {
        RunRow row = run_one(a, axes, mine[i], serving);
        const std::lock_guard lock(mu);
        ready.push_back(std::move(row));
      }
      --running;
    });
  }
  auto flush = [&] {
    std::vector<RunRow> batch;
    {
      const std::lock_guard lock(mu);
      batch.swap(ready);
    }
    for (const RunRow& r : batch) comm.send_row(r.row, r.status);
  };
  while (running > 0) {
    flush();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  for (std::thread& t : threads) t.join();
  flush();
  comm.send_done();
  return 0;
}

}  // namespace

SweepOutcome run_sweep(const SweepArgs& a) {
  const SweepAxes axes(a.vary, a.zips);
  const LoadedRun first = load_run(a, axes, 0);  // run 0's scenario: serving columns, sweep.run0.toml
  const bool serving = first.scenario && first.scenario->serving.enabled;
  const std::string header = header_line(axes, serving);
  const std::filesystem::path dir = a.out_dir.empty() ? default_dir(a, axes) : a.out_dir;
  const std::filesystem::path csv = dir / "sweep.csv";
  const std::filesystem::path run0_toml = dir / "sweep.run0.toml";

  const SweepComm comm;
  std::optional<SweepLock> dir_lock;  // rank 0's, held until the last row is written
  Previous prev;
  std::vector<std::size_t> pending;
  std::string setup_error;
  if (comm.rank() == 0) {
    try {
      dir_lock.emplace(dir);
      if (std::filesystem::exists(csv) && !a.restart) {
        if (!a.resume)
          throw InputError(
              fmt::format("{} already exists: pass --resume to continue that sweep, --restart to discard it and "
                          "start over, or -o for another directory",
                          csv.string()));
        const unsigned jobs = a.jobs > 0 ? unsigned(a.jobs) : std::max(1u, std::thread::hardware_concurrency());
        prev = read_previous(
            csv, header, axes, [&](std::size_t id) { return load_run(a, axes, id).hash; }, jobs,
            [&] { return run0_difference(first, run0_toml); });
      } else {
        if (std::filesystem::exists(csv))
          std::cout << fmt::format("moesim sweep: --restart: {} discarded\n", csv.string());
        io::write_file(csv, header);
        write_run0(first, run0_toml);
      }
      for (std::size_t id = 0; id < axes.runs(); ++id)
        if (!prev.done.count(id)) pending.push_back(id);
    } catch (const std::exception& e) {
      if (!comm.distributed()) throw;
      setup_error = e.what();  // every rank must hear it, or the others would wait forever
    }
  }
  comm.share_pending(pending, setup_error);
  if (!setup_error.empty()) throw InputError(setup_error);
  if (comm.distributed() && comm.rank() > 0) {
    run_share(a, axes, pending, comm, serving);
    return {};
  }

  io::OutputFile out(csv, io::OutputFile::Mode::append);
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t jobs =
      std::max<std::size_t>(1, std::min<std::size_t>(a.jobs > 0 ? std::size_t(a.jobs) : hw, pending.size()));
  const std::string workers =
      comm.distributed() ? fmt::format("{} MPI ranks", comm.size() - 1) : fmt::format("{} threads", jobs);
  std::cout << fmt::format("moesim sweep: {} runs ({} already in {}), {} to do on {}\n", axes.runs(), prev.done.size(),
                           csv.string(), pending.size(), workers);
  if (prev.retried > 0) std::cout << fmt::format("({} of them timed out before and run again)\n", prev.retried);
  std::cout << std::flush;

  const bool progress = isatty(2) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::mutex mu;  // guards `out` and the counters below
  SweepOutcome now;
  std::size_t finished = 0;
  std::string write_error;
  std::atomic<std::size_t> next{0};

  // Appends one finished row (from a local thread or, under MPI, from another rank).
  auto record = [&](const std::string& row, RunStatus status) {
    const std::lock_guard lock(mu);
    if (!write_error.empty()) return false;
    try {
      out.write(row);
    } catch (const Error& e) {
      write_error = e.what();
      return false;
    }
    ++finished;
    ++(status == RunStatus::ok           ? now.ok
       : status == RunStatus::infeasible ? now.infeasible
       : status == RunStatus::timeout    ? now.timeouts
                                         : now.errors);
    if (progress) {
      const double elapsed = seconds_since(t0);
      const double eta = elapsed / static_cast<double>(finished) * static_cast<double>(pending.size() - finished);
      std::cerr << fmt::format("\r[{}/{}] runs done, {} errors, {} timeouts, {} infeasible, {:.1f} s, ETA {:.0f} s",
                               finished, pending.size(), now.errors, now.timeouts, now.infeasible, elapsed, eta)
                << std::flush;
    }
    return true;
  };
  if (comm.distributed()) {
    comm.gather(record);  // rank 0 only writes; the other ranks run
  } else {
    auto worker = [&] {
      for (std::size_t i; (i = next.fetch_add(1)) < pending.size();) {
        const RunRow r = run_one(a, axes, pending[i], serving);
        if (!record(r.row, r.status)) {
          next = pending.size();  // stop everyone: the rows would be lost
          return;
        }
      }
    };
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < jobs && !pending.empty(); ++t) threads.emplace_back(worker);
    for (std::thread& t : threads) t.join();
  }
  if (progress && !pending.empty()) std::cerr << "\n";
  if (!write_error.empty()) throw Error(write_error);

  const double wall = seconds_since(t0);
  std::cout << fmt::format(
      "runs: {}  ok: {}  errors: {}  timeouts: {}  infeasible: {}  wall: {:.3f} s  ({:.1f} runs/s)\n", finished, now.ok,
      now.errors, now.timeouts, now.infeasible, wall, wall > 0 ? double(finished) / wall : 0.0);
  if (prev.errors + prev.infeasible > 0)
    std::cout << fmt::format("from earlier runs: errors: {}  infeasible: {} (in {})\n", prev.errors, prev.infeasible,
                             csv.string());
  std::cout << fmt::format("results in {}\n", csv.string());
  SweepOutcome total = now;
  total.csv_path = csv.string();
  total.ok += prev.done.size() - prev.errors - prev.infeasible;
  total.errors += prev.errors;
  total.infeasible += prev.infeasible;
  return total;
}

CLI::Validator finite_positive() {
  return CLI::Validator(
      [](const std::string& text) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(text, v) || !std::isfinite(v) || !(v > 0))
          return "a finite number > 0, got " + text;
        return {};
      },
      "FINITE > 0");
}

void add_sweep_options(CLI::App& c, SweepArgs& a) {
  // No CLI11 delimiter: the comma-separated values belong to one --vary.
  c.add_option("--vary", a.vary, "key=v1,v2,... (repeatable; each key an axis of the cartesian product)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c.add_option("--zip", a.zips,
               "key=v1,v2,... key2=w1,w2,...: keys swept together, value by value (one axis; repeatable, after the "
               "--vary axes; the last axis varies fastest)")
      ->expected(1, 1000)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c.add_option("--set", a.sets, "override a scenario key in every run")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c.add_option("--jobs,-j", a.jobs, "worker threads (default: hardware threads)")->check(CLI::Range(1, 4096));
  CLI::Option* resume = c.add_flag(
      "--resume", a.resume,
      "continue the sweep.csv in the output directory, skipping its runs (refused when the scenario, a --set value "
      "or the build differs from the one that wrote its rows); timed-out runs are run again");
  c.add_flag("--restart", a.restart, "discard the sweep.csv in the output directory and start over")->excludes(resume);
  c.add_option(
       "--run-timeout", a.run_timeout_s,
       "wall-clock limit per run in seconds: a run that reaches it is recorded as timeout and the sweep goes on")
      ->check(finite_positive());
  c.add_option("-o,--out", a.out_dir, "output directory (default: results/<name>-sweep)");
}

std::function<int()> add_sweep_command(CLI::App& app) {
  auto args = std::make_shared<SweepArgs>();
  CLI::App* c = app.add_subcommand("sweep", "run a scenario over the cartesian product of varied keys");
  c->add_option("scenario", args->scenario, "scenario TOML file")->required();
  add_sweep_options(*c, *args);
  c->footer(
      "Exit codes: 0 every run has a result (ok or infeasible: does not fit in GPU memory); 2 some runs failed or "
      "timed out (recorded, the others ran), or bad input (the sweep did not start); 1 internal or I/O error.");
  return [c, args]() { return c->parsed() ? run_sweep(*args).exit_code() : -1; };
}

}  // namespace moesim::cli
