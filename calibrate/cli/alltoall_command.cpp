// `moesim-calibrate alltoall`: NCCL all-to-all across every local GPU from one process
// (ops/alltoall_op.hpp), sizes doubling, received data checked at every size, timed by the
// harness on every GPU's stream (the slowest rank per repetition, median over repetitions).
// nccl-tests conventions: bytes = each rank's send buffer, algbw = bytes / time, busbw =
// algbw (n - 1) / n. With one GPU it measures nothing.
#include <fmt/format.h>

#include <iostream>

#include "bench/expected_bytes.hpp"
#include "cli/run_meta.hpp"
#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "ops/alltoall_op.hpp"

namespace moesim::calib {

namespace {

struct AlltoallArgs {
  CommonArgs common;
  double min_bytes = 1024;
  double max_bytes = 1 << 30;
};

int run_alltoall(const AlltoallArgs& a, const Argv& argv) {
  require_device();
  int n = 0;
  MOESIM_CUDA_CHECK(cudaGetDeviceCount(&n));
  if (n < 2) {
    std::cout << "all-to-all needs >= 2 GPUs; this machine has 1: nothing measured, nothing recorded\n";
    return 0;
  }
  if (!(a.min_bytes >= 4.0 * n && a.min_bytes <= a.max_bytes && a.max_bytes <= 64e9))
    throw InputError(
        fmt::format("--min-bytes {} / --max-bytes {}: need {} <= min <= max <= 64e9", a.min_bytes, a.max_bytes, 4 * n));
  fit::Measurements m;
  m.meta = collect_meta(argv.argc, argv.argv, true);
  BenchOptions options = a.common.bench();
  options.flush_l2 = false;  // NCCL's own buffers and the peers' traffic: no L2 state to reset
  const std::size_t max_count = static_cast<std::size_t>(a.max_bytes) / (4u * static_cast<unsigned>(n));
  NcclRanks ranks(n, max_count * static_cast<std::size_t>(n));
  Harness harness(ranks.streams(), options);
  std::cout << fmt::format("NCCL {} all-to-all over {} x {}\n", m.meta.nccl, n, m.meta.device);
  const ResultTable table({{"size", "B", 14}, {"per_peer", "B", 12}}, {.busbw = true});
  std::cout << table.header();
  for (double b = a.min_bytes; b <= a.max_bytes; b *= 2) {
    const std::size_t count = static_cast<std::size_t>(b) / (4u * static_cast<unsigned>(n));
    const std::unique_ptr<Operation> op = make_alltoall_op(ranks, count);
    const double bytes = op->bytes();
    const OpResult r =
        measure_row(harness, *op, table, {fmt::format("{:.0f}", bytes), fmt::format("{:.0f}", bytes / n)});
    fit::AlltoallMeasurement row;
    row.gpus = n;
    row.bytes = bytes;
    row.median_us = r.time.median_us;
    row.algbw_GBps = alltoall_algbw_GBps(bytes, r.time.median_us);
    row.busbw_GBps = alltoall_busbw_GBps(row.algbw_GBps, n);
    m.alltoall.push_back(row);
  }
  if (!harness.note().empty()) std::cout << "note: " << harness.note() << "\n";
  MOESIM_CUDA_CHECK(cudaSetDevice(0));
  save_measurements_to(m, a.common.out, a.common.merge);
  return 0;
}

}  // namespace

Runner add_alltoall_command(CLI::App& app, const Argv& argv) {
  auto a = std::make_shared<AlltoallArgs>();
  CLI::App* sub = app.add_subcommand("alltoall", "NCCL all-to-all across all local GPUs (nccl-tests conventions)");
  add_common_options(sub, a->common);
  sub->add_option("--min-bytes", a->min_bytes, "smallest send buffer per rank (default 1024)");
  sub->add_option("--max-bytes", a->max_bytes, "largest send buffer per rank (default 1 GiB)");
  return [sub, a, argv]() { return sub->parsed() ? run_alltoall(*a, argv) : -1; };
}

}  // namespace moesim::calib
