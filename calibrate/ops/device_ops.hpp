#pragma once
// The device-ceiling operations, one small file each: a device-to-device copy (cudaMemcpyAsync
// or our 16-byte vector kernel, checked word by word), the square bf16 / fp8 GEMMs (sampled
// outputs checked in float64), and a row of empty kernel launches (the per-launch cost).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "bench/device_buffer.hpp"
#include "bench/operation.hpp"
#include "kernels/device_gemm.hpp"

namespace moesim::calib {

// Source words generated from `seed` (word_test_value) and a destination, `bytes` each (a
// multiple of 16), on the current device; `stream` clears the destination for each copy operation.
struct CopyBuffers {
  CopyBuffers(std::size_t bytes, std::uint64_t seed, cudaStream_t stream);
  DeviceBuffer<std::uint32_t> src, dst;
  std::uint64_t seed = 0;
  cudaStream_t stream = nullptr;
};

enum class CopyMethod { Memcpy, Vec16 };
// "copy cudaMemcpyAsync" | "copy 16-byte kernel": bytes = read + write (bench/expected_bytes.hpp).
// Making it clears the destination, so its check (every word) sees only its own writes.
std::unique_ptr<Operation> make_copy_op(CopyBuffers& buffers, CopyMethod method);

// The GEMM's flops; its check compares `samples` output entries (corners included) with float64.
std::unique_ptr<Operation> make_bf16_gemm_op(Bf16Gemm& gemm, int samples);
std::unique_ptr<Operation> make_fp8_gemm_op(Fp8Gemm& gemm, int samples);  // needs gemm.available()

// `launches` empty kernels queued back to back in one stream; its time / launches is the GPU's
// cost per launch. The host's submission time of each run is recorded beside it.
class EmptyLaunches final : public Operation {
 public:
  explicit EmptyLaunches(int launches);
  std::string name() const override;
  double bytes() const override { return 0; }
  void run(std::span<const cudaStream_t> streams) override;
  // An empty kernel computes nothing: the check is that every launch of the run completed (the
  // harness synchronised the stream and found no error).
  Verification verify() override { return {launches_, 0, "every launch completed without an error"}; }
  int launches() const { return launches_; }
  // Median over every run so far of the host's time to submit one launch.
  double host_ns_per_launch() const;

 private:
  int launches_;
  std::vector<double> host_ns_;
};

}  // namespace moesim::calib
