#pragma once
// The fp8 expert FFN (kernels/expert_ffn_fp8.hpp) as a measured operation: a fixture holding every
// routed expert's e4m3 weights with 128 x 128 block scales and the activation buffers, inputs
// generated deterministically (reference/host_values.hpp) so its check can regenerate them.
// Assumption: the dispatch delivers the tokens already quantised (DeepSeek-V3's recipe), so the
// input quantisation is set-up, not part of the timed FFN.
#include <cublasLt.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/device_buffer.hpp"
#include "bench/operation.hpp"
#include "kernels/expert_ffn_fp8.hpp"

namespace moesim::calib {

struct Fp8ExpertsShape {
  std::string model;
  int hidden = 0, experts = 0, ffn = 0;  // multiples of 128 (hidden, ffn)
};

// Seeds and scales of the fixture's test inputs (the check regenerates them on the host).
struct Fp8Seeds {
  static std::uint64_t x(std::uint64_t s) { return s * 16 + 9; }
  static std::uint64_t w1(std::uint64_t s) { return s * 16 + 10; }
  static std::uint64_t w2(std::uint64_t s) { return s * 16 + 11; }
  static std::uint64_t scales(std::uint64_t s) { return s * 16 + 12; }
  static constexpr int kInputExp2 = -6;  // bf16 inputs n / 64 before their quantisation
};

class Fp8Experts {
 public:
  // Weights fp8_test_value (n / 8); weight block scales 2^(fan_in_exp2(k) + {-1, 0, 1}), varying
  // by block (equal per tensor in the FFN's tensor mode); buffers for `max_padded_rows` rows.
  Fp8Experts(const Fp8ExpertsShape& shape, std::int64_t max_padded_rows, std::uint64_t seed, cublasLtHandle_t lt,
             cudaStream_t stream);
  static double device_bytes(const Fp8ExpertsShape& shape, std::int64_t max_padded_rows);

  // Plans the FFN for counts[e] rows of expert e (padded: ExpertFfnFp8::padded_first_rows) and
  // quantises fresh bf16 test rows into its input (untimed). Throws Error beyond max_padded_rows.
  void set_counts(const std::vector<int>& counts, cudaStream_t stream);

  // Weight scale of block (nb, kb) of expert e's W1 (which 0) or W2 (1), as the fixture fills it.
  float weight_scale(int which, int expert, int nb, int kb) const;
  // The scale the input rows are quantised with in the tensor mode (0 in the block mode).
  float x_tensor_scale() const;

  const Fp8ExpertsShape& shape() const { return shape_; }
  const std::vector<int>& counts() const { return counts_; }
  std::uint64_t seed() const { return seed_; }
  ExpertFfnFp8& ffn() { return ffn_; }
  const ExpertFfnFp8& ffn() const { return ffn_; }
  const DeviceBuffer<std::uint8_t>& w1() const { return w1_; }
  const DeviceBuffer<std::uint8_t>& w2() const { return w2_; }
  const DeviceBuffer<float>& w1_scale() const { return w1_scale_; }
  const DeviceBuffer<float>& w2_scale() const { return w2_scale_; }
  const DeviceBuffer<std::uint8_t>& x() const { return x_; }
  const DeviceBuffer<float>& x_scale() const { return x_scale_; }
  const DeviceBuffer<std::uint16_t>& y() const { return y_; }
  const DeviceBuffer<std::uint8_t>& act() const { return act_; }
  const DeviceBuffer<float>& act_scale() const { return act_scale_; }
  const DeviceBuffer<std::uint16_t>& out() const { return out_; }

 private:
  void fill_weight_scales();
  Fp8ExpertsShape shape_;
  std::int64_t max_rows_;
  std::uint64_t seed_;
  std::vector<int> counts_;
  DeviceBuffer<std::uint8_t> w1_, w2_, x_, act_;
  DeviceBuffer<float> w1_scale_, w2_scale_, x_scale_, act_scale_;
  DeviceBuffer<std::uint16_t> y_, out_;
  ExpertFfnFp8 ffn_;
  Fp8ScaleMode filled_mode_ = Fp8ScaleMode::Block;  // the mode the weight scales were filled for
};

// "experts fp8": gate/up matmuls, SwiGLU + quantisation, down matmuls over the fixture's current
// counts. Its check, on up to 3 rows of each of the busiest, the least busy, the first and the last
// expert with rows: the input's quantisation, gate/up against fp8_grouped_gemm_ref from the GPU's
// own input, the activation's quantisation against SwiGLU in float64 of the GPU's own gate/up row,
// down against fp8_grouped_gemm_ref from the GPU's own fp8 activation and scales, and the weights.
std::unique_ptr<Operation> make_experts_fp8_op(Fp8Experts& experts);

}  // namespace moesim::calib
