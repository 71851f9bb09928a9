// moesim-calibrate: measures MoE kernels, device ceilings, NCCL all-to-all and whole layers on
// local NVIDIA GPUs, each result checked against a CPU reference before it is timed, and writes
// raw measurements for moesim-fit. Exit codes: 0 ok, 1 error (CUDA, cuBLAS, NCCL, I/O),
// 2 bad input, 3 a GPU result differs from its CPU reference, 77 no CUDA device.
#include <CLI/CLI.hpp>

#include <iostream>

#include "bench/cuda_check.hpp"
#include "cli/subcommands.hpp"
#include "core/error.hpp"

namespace moesim::calib {

void add_common_options(CLI::App* sub, CommonArgs& a, bool with_out) {
  if (with_out) {
    sub->add_option("-o,--out", a.out, "write the measurements (JSON, calibrate/MEASUREMENTS.md) to this file");
    sub->add_flag("--merge", a.merge, "append to --out when it exists instead of replacing it");
  }
  sub->add_option("--repeats", a.repeats, "timed repetitions per configuration (median, p10, p90)")
      ->check(CLI::Range(1, 100000));
  sub->add_option("--warmup", a.warmup, "untimed runs before timing")->check(CLI::Range(0, 10000));
  sub->add_flag("--no-flush", a.no_flush, "do not flush the L2 cache between repetitions");
  sub->add_flag("--no-block", a.no_block, "do not hold the stream while a batch is queued");
  sub->add_option("--seed", a.seed, "seed of the test inputs and synthetic routing");
}

void add_model_options(CLI::App* sub, ModelArgs& a) {
  sub->add_option("--model", a.model, "model preset (deepseek-v3, qwen3-30b-a3b, ...)");
  sub->add_option("--name", a.name, "model name recorded with explicit dimensions");
  sub->add_option("--hidden", a.hidden, "hidden size (overrides the preset)")->check(CLI::PositiveNumber);
  sub->add_option("--experts", a.experts, "routed experts")->check(CLI::PositiveNumber);
  sub->add_option("--top-k", a.top_k, "experts per token")->check(CLI::PositiveNumber);
  sub->add_option("--expert-ffn", a.expert_ffn, "intermediate size of one expert")->check(CLI::PositiveNumber);
  sub->add_option("--gate-kind", a.gate_kind, "softmax_topk | sigmoid_group_topk (default: the model's)");
  sub->add_option("--n-group", a.n_group, "sigmoid gate: expert groups")->check(CLI::PositiveNumber);
  sub->add_option("--topk-group", a.topk_group, "sigmoid gate: groups a token may use")->check(CLI::PositiveNumber);
}

}  // namespace moesim::calib

int main(int argc, char** argv) {
  using namespace moesim::calib;
  const Argv args{argc, argv};
  CLI::App app{"moesim-calibrate: measure MoE kernels, device ceilings and NCCL all-to-all on local GPUs"};
  app.require_subcommand(1);
  const Runner runners[] = {add_check_command(app, args),   add_device_command(app, args),
                            add_kernels_command(app, args), add_alltoall_command(app, args),
                            add_layer_command(app, args),   add_validate_command(app, args),
                            add_attention_command(app, args)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  try {
    for (const Runner& run : runners)
      if (const int rc = run(); rc >= 0) return rc;
  } catch (const NoDeviceError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 77;
  } catch (const VerifyError& e) {
    std::cerr << "verification failed: " << e.what() << "\n";
    return 3;
  } catch (const moesim::InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
