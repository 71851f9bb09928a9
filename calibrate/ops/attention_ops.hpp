#pragma once
// The measured core-attention operation: one grid point of a model's attention (a decode batch or
// a prefill chunk) on moesim's kernels (kernels/attention.hpp), owning its device tensors, filled
// with the deterministic test values (AttentionSeeds) so its check regenerates them on the host.
// Assumption: a sample (first and last sequence, a few heads that cover the GQA grouping and both
// ends of the row tiles, queries spread over a prefill chunk) catches any layout or masking bug.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "bench/device_buffer.hpp"
#include "bench/operation.hpp"
#include "kernels/attention.hpp"
#include "kernels/attention_config.hpp"

namespace moesim::calib {

class AttentionOp final : public Operation {
 public:
  // Plans the kernel, allocates and fills the tensors on the current device (synchronously on
  // `stream`); the output starts as NaN, so a row the kernel never writes fails the check.
  AttentionOp(const AttentionPoint& point, std::uint64_t seed, cudaStream_t stream);
  std::string name() const override;
  double bytes() const override { return attention_bytes(point_); }
  double flops() const override { return attention_flops(point_); }
  void run(std::span<const cudaStream_t> streams) override;
  // The inputs on the device are the generated ones (spot check), then every output element of
  // the sampled (sequence, query, head) rows against attention_ref (kBf16AttentionTol).
  Verification verify() override;
  const AttentionPlan& plan() const { return plan_; }

 private:
  AttentionPoint point_;
  std::uint64_t seed_;
  AttentionPlan plan_;
  AttentionSizes sizes_;
  DeviceBuffer<std::uint16_t> q_, k_, v_, out_;
  DeviceBuffer<float> partials_;
};

// Device bytes an AttentionOp of `point` allocates: its tensors and the split workspace (plans the
// kernel on the current device).
double attention_op_device_bytes(const AttentionPoint& point);

}  // namespace moesim::calib
