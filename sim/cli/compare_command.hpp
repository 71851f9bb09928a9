#pragma once
// `moesim compare SCENARIO --placement a,b,c`: the same scenario under several placements, side by
// side in one table and in compare.csv, each run's full results in a subdirectory.
#include <CLI/CLI.hpp>

#include <functional>

namespace moesim::cli {

// Adds `compare` to `app`; the returned function runs it when parsed and returns its exit code,
// or -1 when `compare` was not the command given.
std::function<int()> add_compare_command(CLI::App& app);

}  // namespace moesim::cli
