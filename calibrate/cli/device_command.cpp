// `moesim-calibrate device`: device ceilings. Copy bandwidth ((read + write bytes) / time over a
// buffer far larger than L2), bf16 and fp8 matrix rates (large square GEMMs through cuBLAS /
// cuBLASLt, sampled outputs checked in float64), and the per-launch cost of empty kernels queued
// back to back in one stream (assumption: that cost is what each extra kernel of a phase adds).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "bench/expected_bytes.hpp"
#include "bench/timer_kernels.hpp"
#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "kernels/device_gemm.hpp"
#include "kernels/fill.hpp"
#include "kernels/host_values.hpp"

namespace moesim::calib {

namespace {

struct DeviceArgs {
  CommonArgs common;
  std::size_t copy_bytes = std::size_t{1} << 30;
  int gemm_size = 8192;
  int launches = 20000;
};

// Checks dst against the generated words in chunks (bounded host memory), then clears it so the
// next copy method must write it again.
void verify_copy(DeviceBuffer<std::uint32_t>& dst, std::uint64_t seed, cudaStream_t stream) {
  const std::size_t chunk = std::size_t{16} << 20;
  for (std::size_t at = 0; at < dst.size(); at += chunk) {
    const std::size_t n = std::min(chunk, dst.size() - at);
    const std::vector<std::uint32_t> got = dst.to_host(n, at);
    for (std::size_t i = 0; i < n; ++i)
      if (got[i] != word_test_value(seed, at + i))
        throw VerifyError(fmt::format("copy: word {} is {:#x}, want {:#x}", at + i, got[i], word_test_value(seed, at + i)));
  }
  MOESIM_CUDA_CHECK(cudaMemsetAsync(dst.get(), 0, dst.bytes(), stream));
  MOESIM_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// Median over 5 rounds of (GPU time from the first to the last of n empty kernels) / n.
double launch_overhead_ns(cudaStream_t stream, int n, double& host_ns) {
  cudaEvent_t a = nullptr, b = nullptr;
  MOESIM_CUDA_CHECK(cudaEventCreate(&a));
  MOESIM_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> gpu, host;
  for (int round = 0; round < 6; ++round) {
    MOESIM_CUDA_CHECK(cudaEventRecord(a, stream));
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) launch_empty_kernel(stream);
    const auto t1 = std::chrono::steady_clock::now();
    MOESIM_CUDA_CHECK(cudaEventRecord(b, stream));
    sync_and_check(stream, "empty kernels");
    float ms = 0;
    MOESIM_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    if (round == 0) continue;  // warm-up round
    gpu.push_back(static_cast<double>(ms) * 1e6 / n);
    host.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
  }
  (void)cudaEventDestroy(a);
  (void)cudaEventDestroy(b);
  host_ns = summarize_us(host).median_us;
  return summarize_us(gpu).median_us;
}

int run_device(const DeviceArgs& a, const Argv& argv) {
  GpuSession gpu;
  fit::Measurements m;
  m.meta = collect_meta(argv.argc, argv.argv, false);
  std::cout << fmt::format("device: {} ({} SMs, {:.1f} GB)\n\n", m.meta.device, m.meta.sm_count, m.meta.memory_GB);
  const CopyResult copy = measure_copy(gpu, a.common.bench(), a.copy_bytes, a.common.seed);

  BenchOptions gemm_options = a.common.bench();
  gemm_options.flush_l2 = false;  // compute-bound: the inputs' cache state does not matter
  gemm_options.repeats = std::min(gemm_options.repeats, 20);
  Bench bench(gpu.stream, gemm_options);
  Bf16Gemm bf16(gpu.cublas, a.gemm_size, a.common.seed + 100, gpu.stream);
  const TimingStats t16 = bench.measure([&](cudaStream_t s) { bf16.run(s); }, [&] {
    const CompareResult r = bf16.verify(64);
    if (!r.ok()) throw VerifyError(r.describe("bf16 GEMM"));
  });
  Fp8Gemm fp8(gpu.lt, a.gemm_size, a.common.seed + 200, gpu.stream);
  TimingStats t8;
  if (fp8.available())
    t8 = bench.measure([&](cudaStream_t s) { fp8.run(s); }, [&] {
      const CompareResult r = fp8.verify(64);
      if (!r.ok()) throw VerifyError(r.describe("fp8 GEMM"));
    });
  double host_ns = 0;
  const double launch_ns = launch_overhead_ns(gpu.stream, a.launches, host_ns);

  fit::DeviceMeasurement d;
  d.copy_GBps = copy.best_GBps();
  d.matrix_bf16_TFLOPs = rate_TFLOPs(bf16.flops(), t16.median_us);
  d.matrix_fp8_TFLOPs = fp8.available() ? rate_TFLOPs(fp8.flops(), t8.median_us) : -1;
  d.launch_ns = launch_ns;
  m.device = d;

  std::cout << fmt::format("{:<34} {:>11} {:>11} {:>11} {:>12}\n", "measurement", "median_us", "p10_us", "p90_us", "rate");
  const auto line = [](const std::string& what, const TimingStats& t, const std::string& rate) {
    std::cout << fmt::format("{:<34} {:>11.2f} {:>11.2f} {:>11.2f} {:>12}\n", what, t.median_us, t.p10_us, t.p90_us, rate);
  };
  line(fmt::format("copy cudaMemcpyAsync {:.0f} MiB", copy.bytes / (1 << 20)), copy.memcpy_stats,
       fmt::format("{:.0f} GB/s", copy.memcpy_GBps));
  line(fmt::format("copy 16-byte kernel {:.0f} MiB", copy.bytes / (1 << 20)), copy.kernel_stats,
       fmt::format("{:.0f} GB/s", copy.kernel_GBps));
  line(fmt::format("bf16 GEMM {0}x{0}x{0}", a.gemm_size), t16, fmt::format("{:.0f} TFLOP/s", d.matrix_bf16_TFLOPs));
  if (fp8.available())
    line(fmt::format("fp8 e4m3 GEMM {0}x{0}x{0}", a.gemm_size), t8, fmt::format("{:.0f} TFLOP/s", d.matrix_fp8_TFLOPs));
  else
    std::cout << fmt::format("{:<34} not measured: {}\n", "fp8 e4m3 GEMM", fp8.why_not());
  std::cout << fmt::format("{:<34} {:>11.3f} us per launch in a stream (host submits one per {:.0f} ns)\n",
                           "empty kernel launch", launch_ns / 1e3, host_ns);
  if (!bench.note().empty()) std::cout << "note: " << bench.note() << "\n";
  std::cout << fmt::format("\nrecorded: copy_GBps {:.1f} (the faster method), matrix_bf16_TFLOPs {:.1f}, "
                           "matrix_fp8_TFLOPs {}, launch_ns {:.0f}\n",
                           d.copy_GBps, d.matrix_bf16_TFLOPs,
                           d.matrix_fp8_TFLOPs < 0 ? std::string("not measured") : fmt::format("{:.1f}", d.matrix_fp8_TFLOPs),
                           d.launch_ns);
  save_measurements_to(m, a.common.out, a.common.merge);
  return 0;
}

}  // namespace

CopyResult measure_copy(GpuSession& gpu, BenchOptions options, std::size_t bytes, std::uint64_t seed) {
  bytes = bytes / 16 * 16;
  if (bytes < (std::size_t{16} << 20)) throw InputError("--copy-bytes must be at least 16 MiB (far above the L2)");
  options.flush_l2 = false;  // the buffer is many times the L2
  DeviceBuffer<std::uint32_t> src(bytes / 4), dst(bytes / 4);
  fill_words(src.get(), src.size(), seed, gpu.stream);
  MOESIM_CUDA_CHECK(cudaMemsetAsync(dst.get(), 0, dst.bytes(), gpu.stream));
  sync_and_check(gpu.stream, "copy setup");
  Bench bench(gpu.stream, options);
  CopyResult r;
  r.bytes = static_cast<double>(bytes);
  const auto verify = [&] { verify_copy(dst, seed, gpu.stream); };
  r.memcpy_stats = bench.measure(
      [&](cudaStream_t s) { MOESIM_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, s)); },
      verify);
  r.kernel_stats = bench.measure([&](cudaStream_t s) { copy_vec16(src.get(), dst.get(), bytes, s); }, verify);
  r.memcpy_GBps = bandwidth_GBps(copy_bytes(r.bytes), r.memcpy_stats.median_us);
  r.kernel_GBps = bandwidth_GBps(copy_bytes(r.bytes), r.kernel_stats.median_us);
  return r;
}

Runner add_device_command(CLI::App& app, const Argv& argv) {
  auto a = std::make_shared<DeviceArgs>();
  CLI::App* sub = app.add_subcommand("device", "device ceilings: copy bandwidth, bf16 / fp8 GEMM rate, launch cost");
  add_common_options(sub, a->common);
  sub->add_option("--copy-bytes", a->copy_bytes, "bytes of the copy buffer (default 1 GiB)");
  sub->add_option("--gemm-size", a->gemm_size, "n of the n x n x n GEMMs (default 8192)")->check(CLI::Range(256, 32768));
  sub->add_option("--launches", a->launches, "empty kernels per launch-cost round")->check(CLI::Range(100, 10000000));
  return [sub, a, argv]() { return sub->parsed() ? run_device(*a, argv) : -1; };
}

}  // namespace moesim::calib
