// The timing harness (see timer.hpp).
#include "bench/timer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "bench/timer_kernels.hpp"

namespace moesim::calib {

namespace {
constexpr int kBatch = 16;                          // repeats queued behind one blocking kernel
constexpr std::uint64_t kBlockTimeoutNs = 1000000000;  // 1 s: far above the time to queue a batch
}  // namespace

void sync_and_check(cudaStream_t stream, const char* what) {
  const cudaError_t e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess)
    throw Error(fmt::format("{}: the GPU reported {} ({})", what, cudaGetErrorName(e), cudaGetErrorString(e)));
  MOESIM_CUDA_CHECK(cudaGetLastError());
}

Bench::Bench(cudaStream_t stream, const BenchOptions& options) : stream_(stream), options_(options) {
  if (options_.repeats < 1 || options_.warmup < 0)
    throw InputError(fmt::format("repeats = {} must be >= 1 and warmup = {} >= 0", options_.repeats, options_.warmup));
  int device = 0;
  MOESIM_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  MOESIM_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  if (options_.flush_l2) flush_buffer_.allocate(std::max<std::size_t>(2u * static_cast<std::size_t>(prop.l2CacheSize), 8u << 20));
  if (options_.block_host && !prop.canMapHostMemory) {
    options_.block_host = false;
    note_ = "the device cannot map host memory: timing without the blocking kernel";
  }
  if (options_.block_host) {
    MOESIM_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_flags_), 2 * sizeof(int), cudaHostAllocMapped));
    MOESIM_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&device_flags_), host_flags_, 0));
  }
  start_.resize(kBatch);
  stop_.resize(kBatch);
  for (int i = 0; i < kBatch; ++i) {
    MOESIM_CUDA_CHECK(cudaEventCreate(&start_[i]));
    MOESIM_CUDA_CHECK(cudaEventCreate(&stop_[i]));
  }
}

Bench::~Bench() {
  for (cudaEvent_t e : start_) (void)cudaEventDestroy(e);
  for (cudaEvent_t e : stop_) (void)cudaEventDestroy(e);
  if (host_flags_) (void)cudaFreeHost(host_flags_);
}

void Bench::flush() {
  flush_value_ = (flush_value_ + 1) & 0xFF;
  MOESIM_CUDA_CHECK(cudaMemsetAsync(flush_buffer_.get(), flush_value_, flush_buffer_.bytes(), stream_));
}

TimingStats Bench::measure(const Op& op, const Verify& verify) {
  if (!verify) throw Error("Bench::measure: every timed operation needs a verification");
  op(stream_);
  sync_and_check(stream_, "the run to verify");
  verify();
  for (int w = 0; w < options_.warmup; ++w) {
    if (options_.flush_l2) flush();
    op(stream_);
  }
  sync_and_check(stream_, "the warm-up runs");
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(options_.repeats));
  for (int left = options_.repeats; left > 0; left -= kBatch) run_batch(op, std::min(left, kBatch), samples);
  return summarize_us(samples);
}

void Bench::run_batch(const Op& op, int n, std::vector<double>& samples_us) {
  const bool block = options_.block_host;
  volatile int* flags = host_flags_;
  if (block) {
    flags[0] = 0;
    flags[1] = 0;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    launch_blocking_kernel(device_flags_, device_flags_ + 1, kBlockTimeoutNs, stream_);
  }
  for (int i = 0; i < n; ++i) {
    if (options_.flush_l2) flush();
    MOESIM_CUDA_CHECK(cudaEventRecord(start_[i], stream_));
    op(stream_);
    MOESIM_CUDA_CHECK(cudaEventRecord(stop_[i], stream_));
  }
  if (block) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    flags[0] = 1;
  }
  sync_and_check(stream_, "the timed runs");
  if (block && flags[1] != 0) {
    // The host could not queue the batch before the timeout (the operation synchronises inside,
    // or the launch queue filled): this batch is unusable; time the rest without blocking.
    options_.block_host = false;
    note_ = "the blocking kernel timed out while the batch was queued: timed without it (host launch gaps may count)";
    run_batch(op, n, samples_us);
    return;
  }
  for (int i = 0; i < n; ++i) {
    float ms = 0;
    MOESIM_CUDA_CHECK(cudaEventElapsedTime(&ms, start_[i], stop_[i]));
    samples_us.push_back(static_cast<double>(ms) * 1000.0);
  }
}

}  // namespace moesim::calib
