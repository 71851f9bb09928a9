#pragma once
// The sweep engine behind `moesim sweep` and `moesim plan`: the cartesian product of --vary values,
// run on worker threads, one sweep.csv row per finished run, resumable.
#include <string>
#include <vector>

namespace moesim::cli {

struct SweepArgs {
  std::string scenario;
  std::vector<std::string> vary;
  std::vector<std::string> sets;
  int jobs = 0;  // 0: one per hardware thread
  bool resume = false;
  std::string out_dir;
};

// Runs (or resumes) the sweep; returns 0 when every run succeeded, 2 otherwise. `csv_path`, when
// given, receives the path of the sweep.csv written.
int run_sweep(const SweepArgs& args, std::string* csv_path);

}  // namespace moesim::cli
