#pragma once
// `moesim comm`: one dispatch and one combine over an EP group, like DeepEP's and nccl-tests'
// benchmarks, with each library's bandwidth; `--check FILE...` holds published figures to it.
#include <CLI/CLI.hpp>

#include <functional>

namespace moesim::cli {

// Adds `comm` to `app`; the returned function runs it when parsed and returns its exit code, or
// -1 when `comm` was not the command given.
std::function<int()> add_comm_command(CLI::App& app);

}  // namespace moesim::cli
