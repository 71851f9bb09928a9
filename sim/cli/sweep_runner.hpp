#pragma once
// The sweep engine behind `moesim sweep` and `moesim plan`: the runs of --vary and --zip (see
// sweep_axes.hpp), on worker threads, one sweep.csv row per finished run (sweep_rows.hpp), one
// sweep at a time per directory, resumable.
#include <CLI/CLI.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace moesim::cli {

struct SweepArgs {
  std::string scenario;
  std::vector<std::string> vary;
  std::vector<std::vector<std::string>> zips;  // per --zip: key=v1,v2,... swept together
  std::vector<std::string> sets;
  int jobs = 0;  // 0: one per hardware thread
  bool resume = false;
  bool restart = false;      // discard an existing sweep.csv
  double run_timeout_s = 0;  // wall-clock limit per run; 0: none
  std::string out_dir;
};

// How the runs ended, this time and in rows kept from before (--resume).
struct SweepOutcome {
  std::string csv_path;  // the sweep.csv written
  std::size_t ok = 0, errors = 0, infeasible = 0, timeouts = 0;
  // 0 when every run has a result (ok or infeasible), 2 when some failed or timed out.
  int exit_code() const { return errors + timeouts > 0 ? 2 : 0; }
};

// Runs (or resumes) the sweep. Throws InputError / Error when it cannot start or write sweep.csv.
SweepOutcome run_sweep(const SweepArgs& args);

// The options `sweep` and `plan` share: --vary, --zip, --set, --jobs, --resume, --restart,
// --run-timeout, -o.
void add_sweep_options(CLI::App& command, SweepArgs& args);
// A finite number > 0 (CLI::PositiveNumber lets NaN through: every comparison with it is false).
CLI::Validator finite_positive();

}  // namespace moesim::cli
