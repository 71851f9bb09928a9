#pragma once
// DeepSeek-V3's activation quantisation: e4m3 with one fp32 scale per row and 128 columns,
// scale = amax / 448 of the block (fp32), values = round-to-nearest-even(v / scale), saturated.
// Alone (bf16 -> e4m3, what the dispatch sends) and fused with SwiGLU between the expert GEMMs.
// Scales go to the grouped VEC128 layout of kernels/fp8_layout.hpp, which cuBLASLt reads per
// expert. Memory-bound: 16 threads per (row, 128 columns), 16-byte loads, 8-byte stores.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace moesim::calib {

// Row groups of the scale layout: `first_row` on the device, groups + 1 entries (the last = the
// end); each group's size should be a multiple of 8 (kFp8RowAlign). nullptr: one group of all rows.
struct Fp8RowGroups {
  const int* first_row = nullptr;
  int groups = 1;
};

// x [rows][cols] bf16 -> q [rows][cols] e4m3 and scales; cols a positive multiple of 128.
// tensor_scale > 0: every block uses it (the per-tensor fallback; beyond 448 x it saturates).
void launch_quantize_fp8(const std::uint16_t* x, std::int64_t rows, int cols, Fp8RowGroups groups, float tensor_scale,
                         std::uint8_t* q, float* scales, cudaStream_t stream);

// y [rows][2 ffn] bf16 (gate half, then up half, as kernels/swiglu.cu) -> silu(gate) * up in fp32,
// quantised: act [rows][ffn] e4m3 and scales; ffn a positive multiple of 128.
void launch_swiglu_quantize_fp8(const std::uint16_t* y, std::int64_t rows, int ffn, Fp8RowGroups groups,
                                float tensor_scale, std::uint8_t* act, float* scales, cudaStream_t stream);

}  // namespace moesim::calib
