#pragma once
// One measured operation behind one interface (nccl-tests' struct of callbacks per collective):
// its name, the bytes it must move and the FLOPs it does per run, one run queued on the streams
// of its ranks, and a check of the last run against the CPU reference that counts wrong values.
// The operations live in ops/, one small file each; bench/harness.hpp verifies and times any of them.
#include <cuda_runtime_api.h>

#include <span>
#include <string>

#include "bench/result.hpp"

namespace moesim::calib {

class Operation {
 public:
  virtual ~Operation() = default;
  virtual std::string name() const = 0;
  // Bytes per run: a kernel's minimum traffic (bench/expected_bytes.hpp), or each rank's send
  // buffer of a collective (nccl-tests' size). algbw = bytes / time.
  virtual double bytes() const = 0;
  virtual double flops() const { return 0; }
  // Streams run() takes: one per GPU (1 for a single-GPU operation).
  virtual int ranks() const { return 1; }
  // busbw = algbw * busbw_factor() (nccl-tests: (n - 1) / n for all-to-all); 0 = no shared bus.
  virtual double busbw_factor() const { return 0; }
  // Queues one run, rank r on streams[r], without synchronising (the first rank's device current).
  virtual void run(std::span<const cudaStream_t> streams) = 0;
  // After a run has completed: how many values were compared with the CPU reference and how many
  // of them were wrong. Throws only when it cannot check at all, never for a wrong value.
  virtual Verification verify() = 0;
};

}  // namespace moesim::calib
