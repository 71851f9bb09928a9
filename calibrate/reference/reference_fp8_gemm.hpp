#pragma once
// CPU reference for the fp8 grouped expert GEMM with block scales (DeepSeek-V3's recipe, as
// DeepGEMM runs it): activations in e4m3 with one fp32 scale per row and 128 columns, weights in
// e4m3 with one fp32 scale per 128 x 128 block, expert rows contiguous. Assumption: the kernel
// applies the scales to fp32 partial sums per 128-wide K block, so float64 of the dequantised
// products bounds it.
#include <cstdint>
#include <vector>

namespace moesim::calib {

inline constexpr int kFp8ScaleBlock = 128;

struct Fp8GroupedGemm {
  int n = 0;  // output columns (per expert)
  int k = 0;  // reduction length
  // Expert e owns rows [offsets[e], offsets[e + 1]) of the activations (contiguous layout).
  std::vector<int> offsets;
  const std::uint8_t* a = nullptr;  // [rows][k] e4m3
  const float* a_scale = nullptr;   // [rows][ceil(k / 128)]
  const std::uint8_t* b = nullptr;  // [experts][n][k] e4m3 (rows of B^T: out = A B^T)
  const float* b_scale = nullptr;   // [experts][ceil(n / 128)][ceil(k / 128)]
};

// out [rows][n] = sum_k (a[r][k] a_scale[r][k / 128]) (b[e][c][k] b_scale[e][c / 128][k / 128]) for
// the expert e owning row r; abs_sum [rows][n] the sum of the products' magnitudes. Throws Error on
// an inconsistent description.
void fp8_grouped_gemm_ref(const Fp8GroupedGemm& g, std::vector<double>& out, std::vector<double>& abs_sum);

}  // namespace moesim::calib
