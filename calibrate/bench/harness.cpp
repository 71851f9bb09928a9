// The verify-then-time harness (see harness.hpp).
#include "bench/harness.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "bench/timer_kernels.hpp"

namespace moesim::calib {

namespace {

constexpr std::uint64_t kBlockTimeoutNs = 1000000000;  // 1 s: far above the time to queue a batch

// Makes `device` current for its lifetime, then restores the device that was current before.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    MOESIM_CUDA_CHECK(cudaGetDevice(&previous_));
    if (device != previous_) {
      MOESIM_CUDA_CHECK(cudaSetDevice(device));
      switched_ = true;
    }
  }
  ~DeviceScope() {
    if (switched_) (void)cudaSetDevice(previous_);
  }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = 0;
  bool switched_ = false;
};

std::vector<RankStream> on_current_device(cudaStream_t stream) {
  int device = 0;
  MOESIM_CUDA_CHECK(cudaGetDevice(&device));
  return {{device, stream}};
}

}  // namespace

void sync_and_check(cudaStream_t stream, const char* what) {
  const cudaError_t e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess)
    throw Error(fmt::format("{}: the GPU reported {} ({})", what, cudaGetErrorName(e), cudaGetErrorString(e)));
  MOESIM_CUDA_CHECK(cudaGetLastError());
}

void require_correct(const OpResult& r) {
  const Verification& v = r.verification;
  if (v.ok()) return;
  if (v.wrong == 0) throw VerifyError(fmt::format("{}: the check compared nothing ({})", r.name, v.detail));
  throw VerifyError(fmt::format("{}: {} of {} checked values wrong: {}", r.name, v.wrong, v.checked, v.detail));
}

Harness::Harness(cudaStream_t stream, const BenchOptions& options) : Harness(on_current_device(stream), options) {}

Harness::Harness(const std::vector<RankStream>& ranks, const BenchOptions& options) : options_(options) {
  if (options_.repeats < 1 || options_.warmup < 0 || options_.batch < 0)
    throw InputError(fmt::format("repeats = {} must be >= 1, warmup = {} and batch = {} >= 0", options_.repeats,
                                 options_.warmup, options_.batch));
  if (ranks.empty()) throw Error("Harness: no streams to run on");
  batch_ = options_.batch > 0 ? options_.batch : ranks.size() == 1 ? 16 : 8;
  std::vector<cudaDeviceProp> props(ranks.size());
  bool can_map = true;
  for (std::size_t r = 0; r < ranks.size(); ++r) {
    MOESIM_CUDA_CHECK(cudaGetDeviceProperties(&props[r], ranks[r].device));
    can_map = can_map && props[r].canMapHostMemory;
  }
  if (options_.block_host && !can_map) {
    options_.block_host = false;
    note_ = "the device cannot map host memory: timing without the blocking kernel";
  }
  ranks_.reserve(ranks.size());
  try {
    if (options_.block_host)
      MOESIM_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&host_flags_), 2 * sizeof(int),
                                      cudaHostAllocMapped | cudaHostAllocPortable));
    for (std::size_t r = 0; r < ranks.size(); ++r) {
      DeviceScope on(ranks[r].device);
      Rank& k = ranks_.emplace_back();
      k.device = ranks[r].device;
      streams_.push_back(ranks[r].stream);
      if (options_.flush_l2)
        k.flush.allocate(std::max<std::size_t>(2u * static_cast<std::size_t>(props[r].l2CacheSize), 8u << 20));
      if (host_flags_)
        MOESIM_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&k.device_flags), host_flags_, 0));
      k.start.assign(static_cast<std::size_t>(batch_), nullptr);
      k.stop.assign(static_cast<std::size_t>(batch_), nullptr);
      for (int i = 0; i < batch_; ++i) {
        MOESIM_CUDA_CHECK(cudaEventCreate(&k.start[i]));
        MOESIM_CUDA_CHECK(cudaEventCreate(&k.stop[i]));
      }
    }
  } catch (...) {
    release();
    throw;
  }
}

Harness::~Harness() { release(); }

void Harness::release() noexcept {
  int current = 0;
  const bool known = cudaGetDevice(&current) == cudaSuccess;
  for (Rank& k : ranks_) {
    (void)cudaSetDevice(k.device);
    for (cudaEvent_t e : k.start)
      if (e) (void)cudaEventDestroy(e);
    for (cudaEvent_t e : k.stop)
      if (e) (void)cudaEventDestroy(e);
    k.start.clear();
    k.stop.clear();
  }
  if (known) (void)cudaSetDevice(current);
  if (host_flags_) (void)cudaFreeHost(host_flags_);
  host_flags_ = nullptr;
}

void Harness::flush(Rank& rank, cudaStream_t stream) {
  flush_value_ = (flush_value_ + 1) & 0xFF;
  MOESIM_CUDA_CHECK(cudaMemsetAsync(rank.flush.get(), flush_value_, rank.flush.bytes(), stream));
}

void Harness::sync_all(const char* what) {
  for (std::size_t r = 0; r < ranks_.size(); ++r) {
    DeviceScope on(ranks_[r].device);
    sync_and_check(streams_[r], what);
  }
}

Verification Harness::check(Operation& op) {
  if (op.ranks() != static_cast<int>(streams_.size()))
    throw Error(fmt::format("{} runs on {} streams; the harness holds {}", op.name(), op.ranks(), streams_.size()));
  {
    DeviceScope on(ranks_[0].device);
    op.run(streams_);
  }
  sync_all("the run to verify");
  return op.verify();
}

OpResult Harness::measure(Operation& op) {
  OpResult r;
  r.name = op.name();
  r.verification = check(op);
  r.bytes = op.bytes();
  r.flops = op.flops();
  r.busbw_factor = op.busbw_factor();
  if (!r.verification.ok()) return r;  // never time what has not been verified
  for (int w = 0; w < options_.warmup; ++w) {
    if (options_.flush_l2)
      for (std::size_t k = 0; k < ranks_.size(); ++k) {
        DeviceScope on(ranks_[k].device);
        flush(ranks_[k], streams_[k]);
      }
    DeviceScope on(ranks_[0].device);
    op.run(streams_);
  }
  sync_all("the warm-up runs");
  std::vector<double> samples;
  samples.reserve(static_cast<std::size_t>(options_.repeats));
  for (int left = options_.repeats; left > 0; left -= batch_) {
    const int n = std::min(left, batch_);
    if (!time_batch(op, n, options_.block_host, samples)) {
      // The host could not queue the batch before the timeout (the operation synchronises inside,
      // or the launch queue filled): this batch is unusable; time the rest without blocking.
      options_.block_host = false;
      note_ = "the blocking kernel timed out while a batch was queued: timed without it (host launch gaps may count)";
      time_batch(op, n, false, samples);
    }
  }
  r.time = summarize_us(samples);
  r.timed = true;
  return r;
}

bool Harness::time_batch(Operation& op, int n, bool block, std::vector<double>& samples_us) {
  volatile int* flags = host_flags_;
  if (block) {
    flags[0] = 0;
    flags[1] = 0;
    std::atomic_thread_fence(std::memory_order_seq_cst);
    for (std::size_t k = 0; k < ranks_.size(); ++k) {
      DeviceScope on(ranks_[k].device);
      launch_blocking_kernel(ranks_[k].device_flags, ranks_[k].device_flags + 1, kBlockTimeoutNs, streams_[k]);
    }
  }
  for (int i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < ranks_.size(); ++k) {
      DeviceScope on(ranks_[k].device);
      if (options_.flush_l2) flush(ranks_[k], streams_[k]);
      MOESIM_CUDA_CHECK(cudaEventRecord(ranks_[k].start[i], streams_[k]));
    }
    {
      DeviceScope on(ranks_[0].device);
      op.run(streams_);
    }
    for (std::size_t k = 0; k < ranks_.size(); ++k) {
      DeviceScope on(ranks_[k].device);
      MOESIM_CUDA_CHECK(cudaEventRecord(ranks_[k].stop[i], streams_[k]));
    }
  }
  if (block) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    flags[0] = 1;
  }
  sync_all("the timed runs");
  if (block && flags[1] != 0) return false;
  for (int i = 0; i < n; ++i) {
    double slowest_us = 0;  // a collective takes as long as its slowest rank
    for (const Rank& k : ranks_) {
      float ms = 0;
      MOESIM_CUDA_CHECK(cudaEventElapsedTime(&ms, k.start[i], k.stop[i]));
      slowest_us = std::max(slowest_us, static_cast<double>(ms) * 1000.0);
    }
    samples_us.push_back(slowest_us);
  }
  return true;
}

}  // namespace moesim::calib
