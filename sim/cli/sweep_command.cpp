// `moesim sweep` (see sweep_command.hpp).
#include "cli/sweep_command.hpp"
#include "cli/sweep_comm.hpp"
#include "cli/sweep_runner.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "io/csv_text.hpp"
#include "io/csv_writer.hpp"
#include "io/metric_registry.hpp"
#include "io/scenario_loader.hpp"

namespace moesim::cli {

namespace {

// One varied key and its values, in the order given.
struct Axis {
  std::string key;
  std::vector<std::string> values;
};

// sweep.csv's metric columns (registry names), between status and wall_s.
constexpr std::string_view kMetrics[] = {"gpus",
                                         "step_us_mean",
                                         "step_us_p50",
                                         "step_us_p90",
                                         "step_us_p99",
                                         "tokens_per_s_total",
                                         "tokens_per_s_per_gpu",
                                         "layer_gpu_load_max_over_mean",
                                         "gpu_load_max_over_mean",
                                         "hottest_link_utilization",
                                         "network_bytes_per_step",
                                         "scaleout_bytes_per_step",
                                         "dropped_fraction"};
// Values and errors stay on one physical line per row, which keeps --resume's reading simple.
constexpr io::CsvQuoting kOneLine{.always = false, .one_line = true};
constexpr std::size_t kMaxRuns = 10'000'000;  // a typo'd range, not a sweep anyone means to run

std::vector<Axis> parse_axes(const std::vector<std::string>& vary) {
  std::vector<Axis> axes;
  for (const std::string& v : vary) {
    const auto eq = v.find('=');
    if (eq == std::string::npos || eq == 0) throw InputError(fmt::format("--vary '{}': expected key=v1[,v2,...]", v));
    Axis a{v.substr(0, eq), {}};
    for (const Axis& prev : axes)
      if (prev.key == a.key) throw InputError(fmt::format("--vary {}: key given twice", a.key));
    // Values are split on every comma, so a TOML array or a string with a comma cannot be varied.
    std::stringstream rest(v.substr(eq + 1));
    std::string value;
    while (std::getline(rest, value, ',')) a.values.push_back(value);
    if (v.back() == ',' || a.values.empty()) a.values.push_back("");
    for (std::size_t i = 0; i < a.values.size(); ++i)
      if (a.values[i].find_first_not_of(" \t") == std::string::npos)
        throw InputError(fmt::format("--vary {}: value {} is empty", a.key, i + 1));
    axes.push_back(std::move(a));
  }
  return axes;
}

std::size_t run_count(const std::vector<Axis>& axes) {
  std::size_t n = 1;
  for (const Axis& a : axes) {
    if (n > kMaxRuns / a.values.size()) throw InputError(fmt::format("--vary: more than {} runs", kMaxRuns));
    n *= a.values.size();
  }
  return n;
}

// The value of each axis in run `id` of the cartesian product, last axis varying fastest.
std::vector<std::string> run_values(const std::vector<Axis>& axes, std::size_t id) {
  std::vector<std::string> values(axes.size());
  for (std::size_t k = axes.size(); k-- > 0;) {
    values[k] = axes[k].values[id % axes[k].values.size()];
    id /= axes[k].values.size();
  }
  return values;
}

std::string header_line(const std::vector<Axis>& axes) {
  io::CsvWriter h;
  h.text("run_id");
  for (const Axis& a : axes) h.text(a.key, kOneLine);
  h.text("status");
  for (std::string_view m : kMetrics) h.text(io::metric(m).name);
  return h.fields({"wall_s", "error"}).end_row().str();
}

// One run's row; `s` is null when the run failed with `error`.
std::string format_row(std::size_t id, const std::vector<std::string>& values, const Summary* s, double wall_s,
                       const std::string& error) {
  io::CsvWriter row;
  row.number(id);
  for (const std::string& v : values) row.text(v, kOneLine);
  if (s) {
    row.text("ok");
    for (std::string_view m : kMetrics) row.text(io::format_metric(io::metric(m), *s));
    row.number(wall_s, "{:.4f}").empty();
  } else {
    row.text("error").empty(std::size(kMetrics)).number(wall_s, "{:.4f}");
    row.text(error, {.always = true, .one_line = true});
  }
  return row.end_row().str();
}

std::vector<std::string> overrides_for(const SweepArgs& a, const std::vector<Axis>& axes, std::size_t id) {
  std::vector<std::string> o = a.sets;  // the varied values come last, so they win over --set
  const std::vector<std::string> values = run_values(axes, id);
  for (std::size_t k = 0; k < axes.size(); ++k) o.push_back(axes[k].key + "=" + values[k]);
  return o;
}

// results/<name>-sweep; the name comes from the scenario with the --set overrides (or, if that
// alone does not validate, with run 0's values too).
std::string default_dir(const SweepArgs& a, const std::vector<Axis>& axes) {
  try {
    return "results/" + io::load_scenario(a.scenario, a.sets).name + "-sweep";
  } catch (const InputError&) {
    try {
      return "results/" + io::load_scenario(a.scenario, overrides_for(a, axes, 0)).name + "-sweep";
    } catch (const InputError&) {}
    throw;  // the error of the scenario itself, e.g. a missing file
  }
}

struct Previous {
  std::set<std::size_t> done;  // run_ids already in sweep.csv, ok or error
  std::size_t errors = 0;
};

// Reads an interrupted sweep.csv: checks it belongs to this sweep, and drops a last line cut
// short (no newline) by rewriting the file, so that run is done again rather than lost or doubled.
Previous read_previous(const std::filesystem::path& path, const std::string& header, const std::vector<Axis>& axes,
                       std::size_t total) {
  Previous prev;
  std::string text;
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(fmt::format("cannot read {}", path.string()));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (!text.empty() && text.back() != '\n') {
    text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
    io::write_file(path, text.empty() ? header : text);
    if (text.empty()) return prev;
  }
  if (text.empty()) {  // created but nothing written yet
    io::write_file(path, header);
    return prev;
  }
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  if (line + "\n" != header)
    throw InputError(fmt::format(
        "{}: its header is not this sweep's, so --resume cannot continue it (the --vary keys must be the same, in "
        "the same order)\n  found:    {}\n  expected: {}\npass another -o to start a new sweep",
        path.string(), line, header.substr(0, header.size() - 1)));
  for (std::size_t no = 2; std::getline(lines, line); ++no) {
    const std::vector<std::string> f = io::split_csv(line, io::CsvSpaces::keep);
    std::size_t id = 0;
    const bool number = !f[0].empty() && f[0].size() < 19 &&
                        f[0].find_first_not_of("0123456789") == std::string::npos &&
                        (id = std::stoull(f[0]), id < total);
    if (!number || f.size() < axes.size() + 2)
      throw InputError(
          fmt::format("{}:{}: not a row of this sweep (run_id '{}' of {} runs)", path.string(), no, f[0], total));
    // The same keys with other values would give the run_ids another meaning.
    const std::vector<std::string> values = run_values(axes, id);
    for (std::size_t k = 0; k < axes.size(); ++k)
      if (f[k + 1] != values[k])
        throw InputError(
            fmt::format("{}:{}: run {} has {}={}, but in this sweep it is {}; pass the same --vary "
                        "values to resume, or another -o",
                        path.string(), no, id, axes[k].key, f[k + 1], values[k]));
    if (prev.done.insert(id).second && f[axes.size() + 1] != "ok") ++prev.errors;
  }
  return prev;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs one configuration; the row to record and whether it succeeded.
std::pair<std::string, bool> run_one(const SweepArgs& a, const std::vector<Axis>& axes, std::size_t id) {
  const auto t_run = std::chrono::steady_clock::now();
  try {
    const ScenarioRun run = run_scenario(io::load_scenario(a.scenario, overrides_for(a, axes, id)));
    return {format_row(id, run_values(axes, id), &run.summary, seconds_since(t_run), ""), true};
  } catch (const std::exception& e) {  // InputError, Error or worse: recorded, the others go on
    return {format_row(id, run_values(axes, id), nullptr, seconds_since(t_run), e.what()), false};
  }
}

// MPI ranks > 0: run this rank's share on local threads; the main thread sends rows to rank 0.
int run_share(const SweepArgs& a, const std::vector<Axis>& axes, const std::vector<std::size_t>& pending,
              const SweepComm& comm) {
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < pending.size(); ++i)
    if (static_cast<int>(i % static_cast<std::size_t>(comm.size() - 1)) == comm.rank() - 1) mine.push_back(pending[i]);
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> ready;
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
        auto row = run_one(a, axes, mine[i]);
        const std::lock_guard lock(mu);
        ready.push_back(std::move(row));
      }
      --running;
    });
  }
  auto flush = [&] {
    std::vector<std::pair<std::string, bool>> batch;
    {
      const std::lock_guard lock(mu);
      batch.swap(ready);
    }
    for (const auto& [row, ok] : batch) comm.send_row(row, ok);
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

int run_sweep(const SweepArgs& a, std::string* csv_path) {
  const std::vector<Axis> axes = parse_axes(a.vary);
  const std::size_t total = run_count(axes);
  const std::string header = header_line(axes);
  const std::filesystem::path dir = a.out_dir.empty() ? default_dir(a, axes) : a.out_dir;
  const std::filesystem::path csv = dir / "sweep.csv";

  const SweepComm comm;
  Previous prev;
  std::vector<std::size_t> pending;
  std::string setup_error;
  if (comm.rank() == 0) {
    try {
      if (std::filesystem::exists(csv)) {
        if (!a.resume)
          throw InputError(
              fmt::format("{} already exists: pass --resume to continue that sweep, or -o for another "
                          "directory",
                          csv.string()));
        prev = read_previous(csv, header, axes, total);
      } else {
        std::filesystem::create_directories(dir);
        io::write_file(csv, header);
      }
      for (std::size_t id = 0; id < total; ++id)
        if (!prev.done.count(id)) pending.push_back(id);
    } catch (const std::exception& e) {
      if (!comm.distributed()) throw;
      setup_error = e.what();  // every rank must hear it, or the others would wait forever
    }
  }
  comm.share_pending(pending, setup_error);
  if (!setup_error.empty()) throw InputError(setup_error);
  if (comm.distributed() && comm.rank() > 0) return run_share(a, axes, pending, comm);

  io::OutputFile out(csv, io::OutputFile::Mode::append);
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::size_t jobs =
      std::max<std::size_t>(1, std::min<std::size_t>(a.jobs > 0 ? std::size_t(a.jobs) : hw, pending.size()));
  const std::string workers =
      comm.distributed() ? fmt::format("{} MPI ranks", comm.size() - 1) : fmt::format("{} threads", jobs);
  std::cout << fmt::format("moesim sweep: {} runs ({} already in {}), {} to do on {}\n", total, prev.done.size(),
                           csv.string(), pending.size(), workers)
            << std::flush;

  const bool progress = isatty(2) != 0;
  const auto t0 = std::chrono::steady_clock::now();
  std::mutex mu;  // guards `out` and the counters below
  std::size_t finished = 0, failed = 0;
  std::string write_error;
  std::atomic<std::size_t> next{0};

  // Appends one finished row (from a local thread or, under MPI, from another rank).
  auto record = [&](const std::string& row, bool ok) {
    const std::lock_guard lock(mu);
    if (!write_error.empty()) return false;
    try {
      out.write(row);
    } catch (const Error& e) {
      write_error = e.what();
      return false;
    }
    ++finished;
    if (!ok) ++failed;
    if (progress)
      std::cerr << fmt::format("\r[{}/{}] runs done, {} errors, {:.1f} s", finished, pending.size(), failed,
                               seconds_since(t0))
                << std::flush;
    return true;
  };
  if (comm.distributed()) {
    comm.gather(record);  // rank 0 only writes; the other ranks run
  } else {
    auto worker = [&] {
      for (std::size_t i; (i = next.fetch_add(1)) < pending.size();) {
        const auto [row, ok] = run_one(a, axes, pending[i]);
        if (!record(row, ok)) {
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
  std::cout << fmt::format("runs: {}  ok: {}  errors: {}  wall: {:.3f} s  ({:.1f} runs/s)\n", finished,
                           finished - failed, failed, wall, wall > 0 ? double(finished) / wall : 0.0);
  if (prev.errors > 0) std::cout << fmt::format("errors from earlier runs: {} (in {})\n", prev.errors, csv.string());
  std::cout << fmt::format("results in {}\n", csv.string());
  if (csv_path) *csv_path = csv.string();
  return failed + prev.errors > 0 ? 2 : 0;
}

std::function<int()> add_sweep_command(CLI::App& app) {
  auto args = std::make_shared<SweepArgs>();
  CLI::App* c = app.add_subcommand("sweep", "run a scenario over the cartesian product of varied keys");
  c->add_option("scenario", args->scenario, "scenario TOML file")->required();
  // No CLI11 delimiter: the comma-separated values belong to one --vary.
  c->add_option("--vary", args->vary, "key=v1,v2,... (repeatable; the last key varies fastest)")
      ->required()
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("--set", args->sets, "override a scenario key in every run")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->add_option("--jobs,-j", args->jobs, "worker threads (default: hardware threads)")->check(CLI::Range(1, 4096));
  c->add_flag("--resume", args->resume, "continue the sweep.csv in the output directory, skipping its runs");
  c->add_option("-o,--out", args->out_dir, "output directory (default: results/<name>-sweep)");
  return [c, args]() { return c->parsed() ? run_sweep(*args, nullptr) : -1; };
}

}  // namespace moesim::cli
