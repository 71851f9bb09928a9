// `moesim-calibrate alltoall`: NCCL all-to-all across every local GPU from one process
// (ncclCommInitAll, one stream per GPU, grouped ncclSend / ncclRecv to every peer), sizes
// doubling, received data checked at every size, times from CUDA events (the slowest rank per
// repetition, median over repetitions). nccl-tests conventions: bytes = each rank's send buffer,
// algbw = bytes / time, busbw = algbw (n - 1) / n. With one GPU it measures nothing.
#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <iostream>

#include "bench/device_buffer.hpp"
#include "bench/expected_bytes.hpp"
#include "bench/nccl_check.hpp"
#include "bench/timer.hpp"
#include "bench/timer_kernels.hpp"
#include "cli/run_meta.hpp"
#include "cli/subcommands.hpp"
#include "kernels/fill.hpp"
#include "kernels/host_values.hpp"

namespace moesim::calib {

namespace {

constexpr int kBatch = 8;  // repetitions queued behind one blocking kernel per GPU

struct AlltoallArgs {
  CommonArgs common;
  double min_bytes = 1024;
  double max_bytes = 1 << 30;
};

// One communicator, stream, buffers and events per GPU; released in reverse order.
struct Ranks {
  int n = 0;
  std::vector<ncclComm_t> comms;
  std::vector<cudaStream_t> streams;
  std::vector<DeviceBuffer<std::uint32_t>> send, recv;
  std::vector<std::vector<cudaEvent_t>> start, stop;
  int* host_flags = nullptr;         // [0] release, [1] timed out: mapped, portable pinned memory
  std::vector<int*> device_flags;    // the same flags as each GPU sees them
  ~Ranks() {
    if (host_flags) (void)cudaFreeHost(host_flags);
    for (std::size_t r = 0; r < streams.size(); ++r) {
      (void)cudaSetDevice(static_cast<int>(r));
      if (r < start.size())
        for (cudaEvent_t e : start[r]) (void)cudaEventDestroy(e);
      if (r < stop.size())
        for (cudaEvent_t e : stop[r]) (void)cudaEventDestroy(e);
      (void)cudaStreamDestroy(streams[r]);
    }
    for (ncclComm_t c : comms) (void)ncclCommDestroy(c);
    (void)cudaSetDevice(0);
  }
};

void alltoall(Ranks& k, std::size_t count) {
  MOESIM_NCCL_CHECK(ncclGroupStart());
  for (int r = 0; r < k.n; ++r)
    for (int p = 0; p < k.n; ++p) {
      MOESIM_NCCL_CHECK(ncclSend(k.send[r].get() + p * count, count, ncclUint32, p, k.comms[r], k.streams[r]));
      MOESIM_NCCL_CHECK(ncclRecv(k.recv[r].get() + p * count, count, ncclUint32, p, k.comms[r], k.streams[r]));
    }
  MOESIM_NCCL_CHECK(ncclGroupEnd());
}

void sync_all(Ranks& k, const char* what) {
  for (int r = 0; r < k.n; ++r) {
    MOESIM_CUDA_CHECK(cudaSetDevice(r));
    sync_and_check(k.streams[r], what);
  }
}

// Rank p's chunk from rank r must be what r generated for p: every word of chunks up to 4 Mi
// words, the first and last 64 Ki words of larger ones.
void verify(Ranks& k, std::size_t count) {
  const std::size_t edge = 65536;
  for (int p = 0; p < k.n; ++p)
    for (int r = 0; r < k.n; ++r) {
      const std::size_t base = static_cast<std::size_t>(r) * count;
      std::vector<std::pair<std::size_t, std::size_t>> ranges;  // [first, last) word ranges
      if (count <= (std::size_t{4} << 20))
        ranges = {{0, count}};
      else
        ranges = {{0, edge}, {count - edge, count}};
      for (const auto& [first, last] : ranges) {
        const std::vector<std::uint32_t> got = k.recv[p].to_host(last - first, base + first);
        for (std::size_t i = first; i < last; ++i)
          if (got[i - first] != word_test_value(alltoall_seed(r, p), i))
            throw VerifyError(fmt::format("all-to-all: GPU {} received word {} from GPU {} as {:#x}, want {:#x}", p, i,
                                          r, got[i - first], word_test_value(alltoall_seed(r, p), i)));
      }
    }
}

// Repetitions [first, first + n): each rank's stream is held by a blocking kernel until the whole
// batch is queued (so host launch gaps stay out of the events); false when that timed out.
bool time_batch(Ranks& k, std::size_t count, int first, int n, bool block) {
  volatile int* flags = k.host_flags;
  if (block) {
    flags[0] = 0;
    flags[1] = 0;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (int r = 0; r < k.n; ++r) {
      MOESIM_CUDA_CHECK(cudaSetDevice(r));
      launch_blocking_kernel(k.device_flags[r], k.device_flags[r] + 1, 1000000000, k.streams[r]);
    }
  }
  for (int i = first; i < first + n; ++i) {
    for (int r = 0; r < k.n; ++r) {
      MOESIM_CUDA_CHECK(cudaSetDevice(r));
      MOESIM_CUDA_CHECK(cudaEventRecord(k.start[r][i], k.streams[r]));
    }
    alltoall(k, count);
    for (int r = 0; r < k.n; ++r) {
      MOESIM_CUDA_CHECK(cudaSetDevice(r));
      MOESIM_CUDA_CHECK(cudaEventRecord(k.stop[r][i], k.streams[r]));
    }
  }
  if (block) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    flags[0] = 1;
  }
  sync_all(k, "timed all-to-all");
  return !(block && flags[1] != 0);
}

int run_alltoall(const AlltoallArgs& a, const Argv& argv) {
  require_device();
  int n = 0;
  MOESIM_CUDA_CHECK(cudaGetDeviceCount(&n));
  if (n < 2) {
    std::cout << "all-to-all needs >= 2 GPUs; this machine has 1: nothing measured, nothing recorded\n";
    return 0;
  }
  if (!(a.min_bytes >= 4.0 * n && a.min_bytes <= a.max_bytes && a.max_bytes <= 64e9))
    throw InputError(fmt::format("--min-bytes {} / --max-bytes {}: need {} <= min <= max <= 64e9", a.min_bytes,
                                 a.max_bytes, 4 * n));
  fit::Measurements m;
  m.meta = collect_meta(argv.argc, argv.argv, true);
  const BenchOptions opt = a.common.bench();
  const std::size_t max_count = static_cast<std::size_t>(a.max_bytes) / (4u * static_cast<unsigned>(n));
  Ranks k;
  k.n = n;
  k.comms.resize(n);
  MOESIM_NCCL_CHECK(ncclCommInitAll(k.comms.data(), n, nullptr));
  bool block = opt.block_host;
  if (block)
    MOESIM_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&k.host_flags), 2 * sizeof(int),
                                    cudaHostAllocMapped | cudaHostAllocPortable));
  for (int r = 0; r < n; ++r) {
    MOESIM_CUDA_CHECK(cudaSetDevice(r));
    if (block) {
      int* d = nullptr;
      MOESIM_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&d), k.host_flags, 0));
      k.device_flags.push_back(d);
    }
    cudaStream_t s = nullptr;
    MOESIM_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    k.streams.push_back(s);
    k.send.emplace_back(max_count * n);
    k.recv.emplace_back(max_count * n);
    k.start.emplace_back(opt.repeats);
    k.stop.emplace_back(opt.repeats);
    for (int i = 0; i < opt.repeats; ++i) {
      MOESIM_CUDA_CHECK(cudaEventCreate(&k.start[r][i]));
      MOESIM_CUDA_CHECK(cudaEventCreate(&k.stop[r][i]));
    }
  }
  std::cout << fmt::format("NCCL {} all-to-all over {} x {}\n", m.meta.nccl, n, m.meta.device);
  std::cout << fmt::format("{:>14} {:>12} {:>11} {:>11} {:>11} {:>11}\n", "bytes/rank", "bytes/peer", "median_us",
                           "p90_us", "algbw_GBps", "busbw_GBps");
  for (double b = a.min_bytes; b <= a.max_bytes; b *= 2) {
    const std::size_t count = static_cast<std::size_t>(b) / (4u * static_cast<unsigned>(n));
    const double bytes = 4.0 * static_cast<double>(count) * n;
    for (int r = 0; r < n; ++r) {
      MOESIM_CUDA_CHECK(cudaSetDevice(r));
      fill_alltoall_send(k.send[r].get(), count, n, r, k.streams[r]);
      MOESIM_CUDA_CHECK(cudaMemsetAsync(k.recv[r].get(), 0, 4 * count * n, k.streams[r]));
    }
    alltoall(k, count);
    sync_all(k, "all-to-all");
    verify(k, count);
    for (int w = 0; w < opt.warmup; ++w) alltoall(k, count);
    sync_all(k, "warm-up all-to-all");
    for (int i = 0; i < opt.repeats; i += kBatch) {
      const int batch = std::min(kBatch, opt.repeats - i);
      if (!time_batch(k, count, i, batch, block)) {
        block = false;  // the host could not queue a batch in time: time the rest without holding
        std::cout << "note: blocking kernel timed out; timing without it (host launch gaps may count)\n";
        time_batch(k, count, i, batch, false);
      }
    }
    std::vector<double> samples;
    for (int i = 0; i < opt.repeats; ++i) {
      double slowest = 0;
      for (int r = 0; r < n; ++r) {
        float ms = 0;
        MOESIM_CUDA_CHECK(cudaEventElapsedTime(&ms, k.start[r][i], k.stop[r][i]));
        slowest = std::max(slowest, static_cast<double>(ms) * 1e3);
      }
      samples.push_back(slowest);
    }
    const TimingStats t = summarize_us(samples);
    fit::AlltoallMeasurement row;
    row.gpus = n;
    row.bytes = bytes;
    row.median_us = t.median_us;
    row.algbw_GBps = alltoall_algbw_GBps(bytes, t.median_us);
    row.busbw_GBps = alltoall_busbw_GBps(row.algbw_GBps, n);
    m.alltoall.push_back(row);
    std::cout << fmt::format("{:>14.0f} {:>12.0f} {:>11.2f} {:>11.2f} {:>11.2f} {:>11.2f}\n", bytes, bytes / n,
                             t.median_us, t.p90_us, row.algbw_GBps, row.busbw_GBps);
  }
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
