#pragma once
// The timing harness: run once and verify against the CPU reference, then warm up, then time N
// repeats with CUDA events (median, p10, p90). Assumptions: an L2 flush (a memset of twice the L2
// size) between repeats makes memory-bound kernels read from HBM as they would inside a layer;
// a blocking kernel holds the stream while a batch is queued, so the events bracket GPU work
// only, not host launch gaps.
#include <cuda_runtime_api.h>

#include <functional>
#include <string>
#include <vector>

#include "bench/device_buffer.hpp"
#include "bench/stats.hpp"

namespace moesim::calib {

struct BenchOptions {
  int warmup = 5;
  int repeats = 50;
  bool flush_l2 = true;
  bool block_host = true;
};

class Bench {
 public:
  using Op = std::function<void(cudaStream_t)>;
  using Verify = std::function<void()>;  // throws VerifyError on a mismatch

  Bench(cudaStream_t stream, const BenchOptions& options);
  ~Bench();
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  // Runs `op` once, synchronises and calls `verify`; only then warms up and times the repeats.
  TimingStats measure(const Op& op, const Verify& verify);
  cudaStream_t stream() const { return stream_; }
  const BenchOptions& options() const { return options_; }
  // What the harness had to change on the way ("" = nothing), e.g. blocking turned off.
  const std::string& note() const { return note_; }

 private:
  void run_batch(const Op& op, int n, std::vector<double>& samples_us);
  void flush();
  cudaStream_t stream_;
  BenchOptions options_;
  DeviceBuffer<unsigned char> flush_buffer_;
  int flush_value_ = 0;
  int* host_flags_ = nullptr;  // [0] release, [1] timed out: mapped pinned memory
  int* device_flags_ = nullptr;
  std::vector<cudaEvent_t> start_, stop_;
  std::string note_;
};

// Synchronises `stream` and reports any asynchronous kernel error with `what` in the message.
void sync_and_check(cudaStream_t stream, const char* what);

}  // namespace moesim::calib
