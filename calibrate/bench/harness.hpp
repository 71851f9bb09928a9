#pragma once
// The harness that verifies, then times, any Operation (nccl-tests' common harness): one run on
// every rank's stream, synchronise, check against the CPU reference; only when nothing was wrong,
// warm-up runs, then the repetitions bracketed by CUDA events on every rank (per repetition the
// slowest rank's time; median, p10, p90). Assumptions: an L2 flush (a memset of twice the L2
// size on every rank's device) between repetitions makes memory-bound kernels read from HBM as
// they would inside a layer; a blocking kernel holds every stream while a batch is queued, so the
// events bracket GPU work only, not host launch gaps.
#include <cuda_runtime_api.h>

#include <span>
#include <string>
#include <vector>

#include "bench/device_buffer.hpp"
#include "bench/operation.hpp"
#include "bench/result.hpp"

namespace moesim::calib {

struct BenchOptions {
  int warmup = 5;
  int repeats = 50;
  bool flush_l2 = true;
  bool block_host = true;
  int batch = 0;  // repetitions queued before the host synchronises; 0 = 16 on one GPU, 8 on several
};

// One rank of a (multi-stream) operation: its stream and the device that stream belongs to.
struct RankStream {
  int device = 0;
  cudaStream_t stream = nullptr;
};

class Harness {
 public:
  // One rank per stream (an all-to-all's GPUs); throws InputError for bad options.
  Harness(const std::vector<RankStream>& ranks, const BenchOptions& options);
  // One GPU: `stream` on the current device.
  Harness(cudaStream_t stream, const BenchOptions& options);
  ~Harness();
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  // Runs `op` once on every rank, synchronises and checks it; nothing is timed.
  Verification check(Operation& op);
  // check(), then, only when it found nothing wrong, the warm-up and the timed repetitions. An
  // operation with a wrong value comes back untimed (timed = false); see require_correct.
  OpResult measure(Operation& op);

  std::span<const cudaStream_t> streams() const { return streams_; }
  const BenchOptions& options() const { return options_; }
  // What the harness had to change on the way ("" = nothing), e.g. blocking turned off.
  const std::string& note() const { return note_; }

 private:
  struct Rank {
    int device = 0;
    DeviceBuffer<unsigned char> flush;
    int* device_flags = nullptr;  // the shared host flags as this device sees them
    std::vector<cudaEvent_t> start, stop;
  };
  void release() noexcept;
  void flush(Rank& rank, cudaStream_t stream);
  void sync_all(const char* what);
  // Times n repetitions into samples_us; false when the blocking kernel timed out (batch unusable).
  bool time_batch(Operation& op, int n, bool block, std::vector<double>& samples_us);
  std::vector<Rank> ranks_;
  std::vector<cudaStream_t> streams_;
  BenchOptions options_;
  int batch_ = 16;
  int flush_value_ = 0;
  int* host_flags_ = nullptr;  // [0] release, [1] timed out: mapped, portable pinned memory
  std::string note_;
};

// Throws VerifyError naming the operation and what was wrong when `r` was not verified.
void require_correct(const OpResult& r);

// Synchronises `stream` and reports any asynchronous kernel error with `what` in the message.
void sync_and_check(cudaStream_t stream, const char* what);

}  // namespace moesim::calib
