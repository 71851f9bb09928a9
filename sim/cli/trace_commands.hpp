#pragma once
// `moesim trace ...` subcommands: gen (synthetic generators to a trace file), import (serving-stack
// formats to a trace file) and stats (load, skew, co-selection and drift of a trace).
#include <CLI/CLI.hpp>

#include <functional>

namespace moesim::cli {

// Adds `trace` and its subcommands to `app`; the returned function runs whichever was parsed
// (returns false when none was).
std::function<bool()> add_trace_commands(CLI::App& app);

}  // namespace moesim::cli
