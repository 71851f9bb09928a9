#pragma once
// The moesim-calibrate subcommands (one file each): each add_*_command registers its CLI11
// subcommand and options and returns a runner that gives the exit code, or -1 when its
// subcommand was not the one parsed. Options shared by the measuring subcommands live here.
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>

#include "bench/harness.hpp"
#include "cli/calib_args.hpp"
#include "kernels/expert_ffn.hpp"

namespace moesim::calib {

struct Argv {
  int argc = 0;
  const char* const* argv = nullptr;
};

struct CommonArgs {
  std::string out;     // measurements JSON ("" = not saved)
  bool merge = false;  // append to an existing --out file
  int repeats = 50;
  int warmup = 5;
  bool no_flush = false;
  bool no_block = false;
  std::uint64_t seed = 1;
  BenchOptions bench() const {
    return {.warmup = warmup, .repeats = repeats, .flush_l2 = !no_flush, .block_host = !no_block};
  }
};
void add_common_options(CLI::App* sub, CommonArgs& args, bool with_out = true);
// --model / explicit dims / gate options.
void add_model_options(CLI::App* sub, ModelArgs& args);

using Runner = std::function<int()>;
Runner add_check_command(CLI::App& app, const Argv& argv);
Runner add_device_command(CLI::App& app, const Argv& argv);
Runner add_kernels_command(CLI::App& app, const Argv& argv);
Runner add_alltoall_command(CLI::App& app, const Argv& argv);
Runner add_layer_command(CLI::App& app, const Argv& argv);
Runner add_validate_command(CLI::App& app, const Argv& argv);
Runner add_attention_command(CLI::App& app, const Argv& argv);

}  // namespace moesim::calib
