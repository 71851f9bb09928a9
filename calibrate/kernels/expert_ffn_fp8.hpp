#pragma once
// Routed experts in fp8 as DeepSeek-V3 serves them: per expert with rows, the fused gate/up
// projection as one cuBLASLt fp8 matmul (x e4m3 with one scale per row and 128 columns, VEC128_32F,
// times W1_e e4m3 [2F][H] with one scale per 128 x 128 block, BLK128x128_32F; fp32 accumulation,
// bf16 out), SwiGLU fused with the activation's quantisation (kernels/quantize_fp8.hpp), then the
// down projection the same way (W2_e [H][F]) to bf16 rows. Each expert's rows are padded to a
// multiple of 8 (kernels/fp8_layout.hpp). Where cuBLASLt offers no block-scaled algorithm it runs
// with one scale per tensor (SCALAR_32F) instead and note() says so. Assumption: the rows per
// expert are known on the host before the launch, as in ExpertFfn.
#include <cublasLt.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/device_buffer.hpp"
#include "kernels/quantize_fp8.hpp"

namespace moesim::calib {

// Block: VEC128 activations, BLK128x128 weights. Tensor: one scale per matmul operand (the fallback;
// its data must then carry equal scales in every block, which the callers' fixtures arrange).
enum class Fp8ScaleMode { Block, Tensor };
std::string fp8_scale_mode_name(Fp8ScaleMode mode);  // "block" | "tensor"

// Device tensors of the fp8 FFN (E experts, hidden H, expert ffn F, R padded rows).
struct Fp8FfnBuffers {
  const std::uint8_t* w1 = nullptr;  // [E][2F][H] e4m3
  const float* w1_scale = nullptr;   // [E][fp8_weight_scale_count(2F, H)]
  const std::uint8_t* w2 = nullptr;  // [E][H][F] e4m3
  const float* w2_scale = nullptr;   // [E][fp8_weight_scale_count(H, F)]
  const std::uint8_t* x = nullptr;   // [R][H] e4m3, expert e's rows from first_rows()[e]
  const float* x_scale = nullptr;    // grouped VEC128 layout (fp8_layout.hpp), R x H / 128
  std::uint16_t* y = nullptr;        // [R][2F] bf16: gate | up
  std::uint8_t* act = nullptr;       // [R][F] e4m3
  float* act_scale = nullptr;        // grouped VEC128 layout, R x F / 128
  std::uint16_t* out = nullptr;      // [R][H] bf16
};

class ExpertFfnFp8 {
 public:
  // Throws Error when the GPU has no fp8 tensor cores (sm < 89), InputError when hidden or ffn is
  // not a multiple of 128. Probes cuBLASLt for block-scaled algorithms (else the tensor mode).
  ExpertFfnFp8(cublasLtHandle_t handle, int experts, int hidden, int ffn);
  ~ExpertFfnFp8();
  ExpertFfnFp8(const ExpertFfnFp8&) = delete;
  ExpertFfnFp8& operator=(const ExpertFfnFp8&) = delete;

  // First padded row of each expert (experts + 1 entries): counts[e] rounded up to a multiple of 8.
  static std::vector<int> padded_first_rows(const std::vector<int>& counts);
  // Device bytes the FFN itself allocates (the cuBLASLt workspace), beside the caller's buffers.
  static double workspace_bytes();

  // counts[e] rows of expert e at rows [first_rows()[e], ...); the buffers hold the padded rows.
  // Uploads the row groups and picks a cuBLASLt algorithm for each row count not seen before (the
  // descriptors, layouts and algorithm of a count are kept). May switch to the tensor mode.
  void plan(const std::vector<int>& counts, const Fp8FfnBuffers& buffers);
  void run(cudaStream_t stream);         // gate/up matmuls, SwiGLU + quantisation, down matmuls
  void run_swiglu(cudaStream_t stream);  // SwiGLU + quantisation alone (y -> act)

  Fp8ScaleMode scale_mode() const { return mode_; }
  // The activations' scale in the tensor mode (0 in the block mode: amax / 448 per block).
  float act_tensor_scale() const;
  const std::string& note() const { return note_; }  // e.g. the fallback to per-tensor scales
  Fp8RowGroups row_groups() const;                   // the active experts' row groups (device)
  const std::vector<int>& first_rows() const { return first_rows_; }
  int active_experts() const { return static_cast<int>(active_.size()); }
  std::int64_t rows() const { return rows_; }  // token rows
  std::int64_t padded_rows() const { return first_rows_.empty() ? 0 : first_rows_.back(); }
  int hidden() const { return hidden_; }
  int ffn() const { return ffn_; }

 private:
  // One padded row count n: per projection (0 gate/up, 1 down) a matmul descriptor, the A
  // (weights), B (activations) and D layouts, and the algorithm chosen for them.
  struct Shape {
    cublasLtMatmulDesc_t desc[2] = {nullptr, nullptr};
    cublasLtMatrixLayout_t a[2] = {nullptr, nullptr}, b[2] = {nullptr, nullptr}, d[2] = {nullptr, nullptr};
    cublasLtMatmulAlgo_t algo[2] = {};
  };
  bool make_shape(int n, Shape& s);  // false: cuBLASLt has no algorithm for it in mode_
  void destroy(Shape& s) noexcept;
  void clear_shapes() noexcept;
  void matmuls(int which, cudaStream_t stream);

  cublasLtHandle_t handle_;
  int experts_, hidden_, ffn_;
  Fp8ScaleMode mode_ = Fp8ScaleMode::Block;
  std::string note_;
  std::map<int, Shape> shapes_;  // by padded row count
  std::vector<int> first_rows_, active_;
  std::int64_t rows_ = 0;
  Fp8FfnBuffers buf_;
  DeviceBuffer<int> groups_;               // active experts' first rows + the end
  DeviceBuffer<unsigned char> workspace_;  // cuBLASLt workspace
  DeviceBuffer<float> probe_scales_;       // scale pointers of the heuristic queries
};

}  // namespace moesim::calib
