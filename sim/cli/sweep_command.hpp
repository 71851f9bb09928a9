#pragma once
// `moesim sweep SCENARIO --vary key=v1,v2 ... [--zip a=1,2 b=3,4]`: the cartesian product of the
// swept keys, run on worker threads, one row per run appended to sweep.csv as it finishes;
// --resume continues it, --restart starts it over.
#include <CLI/CLI.hpp>

#include <functional>

namespace moesim::cli {

// Adds `sweep` to `app`; the returned function runs it when parsed and returns its exit code
// (0 every run ok or infeasible, 2 some failed or timed out), or -1 when `sweep` was not the
// command given.
std::function<int()> add_sweep_command(CLI::App& app);

}  // namespace moesim::cli
