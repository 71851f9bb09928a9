// `moesim-calibrate device`: device ceilings. Copy bandwidth ((read + write bytes) / time over a
// buffer far larger than L2), bf16 and fp8 matrix rates (large square GEMMs through cuBLAS /
// cuBLASLt, sampled outputs checked in float64), and the per-launch cost of empty kernels queued
// back to back in one stream (assumption: that cost is what each extra kernel of a phase adds).
#include <fmt/format.h>

#include <algorithm>
#include <iostream>

#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "kernels/device_gemm.hpp"
#include "ops/device_ops.hpp"

namespace moesim::calib {

namespace {

struct DeviceArgs {
  CommonArgs common;
  std::size_t copy_bytes = std::size_t{1} << 30;
  int gemm_size = 8192;
  int launches = 20000;
};

int run_device(const DeviceArgs& a, const Argv& argv) {
  GpuSession gpu;
  fit::Measurements m;
  m.meta = collect_meta(argv.argc, argv.argv, false);
  std::cout << fmt::format("device: {} ({} SMs, {:.1f} GB)\n\n", m.meta.device, m.meta.sm_count, m.meta.memory_GB);
  const ResultTable table({{"measurement", "", 34, true}}, {.tflops = true});
  std::cout << table.header();
  const CopyResult copy = measure_copy(gpu, a.common.bench(), a.copy_bytes, a.common.seed, &table);

  BenchOptions gemm_options = a.common.bench();
  gemm_options.flush_l2 = false;  // compute-bound: the inputs' cache state does not matter
  gemm_options.repeats = std::min(gemm_options.repeats, 20);
  Harness harness(gpu.stream, gemm_options);
  Bf16Gemm bf16(gpu.cublas, a.gemm_size, a.common.seed + 100, gpu.stream);
  const std::unique_ptr<Operation> bf16_op = make_bf16_gemm_op(bf16, 64);
  const OpResult t16 = measure_row(harness, *bf16_op, table, {bf16_op->name()});
  Fp8Gemm fp8(gpu.lt, a.gemm_size, a.common.seed + 200, gpu.stream);
  OpResult t8;
  if (fp8.available()) {
    const std::unique_ptr<Operation> fp8_op = make_fp8_gemm_op(fp8, 64);
    t8 = measure_row(harness, *fp8_op, table, {fp8_op->name()});
  }

  // One round is the warm-up, then 5 rounds each timed alone from an idle stream (no blocking kernel).
  Harness launch_harness(gpu.stream, {.warmup = 1, .repeats = 5, .flush_l2 = false, .block_host = false, .batch = 1});
  EmptyLaunches launches(a.launches);
  const OpResult tl = measure_row(launch_harness, launches, table, {launches.name()});
  const double launch_ns = tl.time.median_us * 1e3 / launches.launches();

  fit::DeviceMeasurement d;
  d.copy_GBps = copy.best_GBps();
  d.matrix_bf16_TFLOPs = t16.TFLOPs();
  d.matrix_fp8_TFLOPs = fp8.available() ? t8.TFLOPs() : -1;
  d.launch_ns = launch_ns;
  m.device = d;

  if (!fp8.available()) std::cout << fmt::format("fp8 e4m3 GEMM not measured: {}\n", fp8.why_not());
  std::cout << fmt::format("empty kernel launch: {:.3f} us per launch in a stream (host submits one per {:.0f} ns)\n",
                           launch_ns / 1e3, launches.host_ns_per_launch());
  if (!harness.note().empty()) std::cout << "note: " << harness.note() << "\n";
  std::cout << fmt::format(
      "\nrecorded: copy_GBps {:.1f} (the faster method), matrix_bf16_TFLOPs {:.1f}, "
      "matrix_fp8_TFLOPs {}, launch_ns {:.0f}\n",
      d.copy_GBps, d.matrix_bf16_TFLOPs,
      d.matrix_fp8_TFLOPs < 0 ? std::string("not measured") : fmt::format("{:.1f}", d.matrix_fp8_TFLOPs), d.launch_ns);
  save_measurements_to(m, a.common.out, a.common.merge);
  return 0;
}

}  // namespace

Runner add_device_command(CLI::App& app, const Argv& argv) {
  auto a = std::make_shared<DeviceArgs>();
  CLI::App* sub = app.add_subcommand("device", "device ceilings: copy bandwidth, bf16 / fp8 GEMM rate, launch cost");
  add_common_options(sub, a->common);
  sub->add_option("--copy-bytes", a->copy_bytes, "bytes of the copy buffer (default 1 GiB)");
  sub->add_option("--gemm-size", a->gemm_size, "n of the n x n x n GEMMs (default 8192)")
      ->check(CLI::Range(256, 32768));
  sub->add_option("--launches", a->launches, "empty kernels per launch-cost round")->check(CLI::Range(100, 10000000));
  return [sub, a, argv]() { return sub->parsed() ? run_device(*a, argv) : -1; };
}

}  // namespace moesim::calib
