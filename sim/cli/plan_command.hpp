#pragma once
// `moesim plan SCENARIO --target-tokens-per-s X --max-step-ms Y --vary ...`: sweeps the space and
// picks the cheapest configurations (fewest GPUs, then highest throughput) that meet both targets.
#include <CLI/CLI.hpp>

#include <functional>

namespace moesim::cli {

// Adds `plan` to `app`; the returned function runs it when parsed (exit code) or returns -1.
std::function<int()> add_plan_command(CLI::App& app);

}  // namespace moesim::cli
