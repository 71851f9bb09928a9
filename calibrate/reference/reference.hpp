#pragma once
// CPU references for the calibrator's kernels, in float64 from the exact inputs the GPU used
// (bf16 bit patterns, fp32 logits). Assumption: the GPU keeps fp32 intermediates and rounds to
// bf16 only where its output is bf16, so a reference needs no model of the GPU's rounding.
#include <cstdint>
#include <vector>

#include "kernels/gate_config.hpp"

namespace moesim::calib {

float bf16_to_float(std::uint16_t bits);
std::uint16_t bf16_from_float(float value);  // round to nearest even; NaN stays a quiet NaN
double fp8_e4m3_to_double(std::uint8_t bits);

// c[i][j] = sum_l a[i][l] * b[j][l] (rows of `a` times rows of `b`, i.e. A B^T, all row-major bf16),
// and abs_sum[i][j] = sum_l |a[i][l] * b[j][l]| for accumulation tolerances. c is n x m.
void matmul_abt_ref(const std::uint16_t* a, int n, const std::uint16_t* b, int m, int k, std::vector<double>& c,
                    std::vector<double>& abs_sum);

// Top-k gate for `tokens` rows of fp32 logits [tokens][experts]; `bias` (experts entries) is the
// DeepSeek-V3 correction bias, used for selection only (ignored by softmax; may be null).
struct TopkRef {
  std::vector<int> ids;         // [tokens][top_k], by decreasing selection score, ties: lower id
  std::vector<double> weights;  // [tokens][top_k]
  std::vector<double> margin;   // [tokens]: smallest gap of any selection decision (group or expert)
};
TopkRef topk_ref(const float* logits, const float* bias, int tokens, const GateConfig& c);

// The weights the gate gives one token's selection `ids` (top_k entries) from its logits row:
// softmax: p_e (or p_e / sum over the selection when normalising); sigmoid: s_e (or
// s_e / sum s) times scaling. Lets a check judge the GPU's weights for the GPU's own choice.
void topk_weights_for(const float* logits_row, const GateConfig& c, const int* ids, double* weights);

// Expert-contiguous layout of tokens * top_k assignments; perm_row is the stable (token-major)
// order within each expert: perm_row[t * top_k + j] = offsets[e] + (earlier assignments to e).
struct PermuteRef {
  std::vector<int> counts;    // [experts]
  std::vector<int> offsets;   // [experts + 1], exclusive prefix sum of counts
  std::vector<int> perm_row;  // [tokens * top_k]
};
PermuteRef permute_ref(const std::int32_t* ids, int tokens, int top_k, int experts);

// Rows of x [tokens][hidden] copied to their permuted places: out [tokens * top_k][hidden].
std::vector<std::uint16_t> permute_rows_ref(const std::uint16_t* x, int tokens, int hidden, int top_k,
                                            const std::vector<int>& perm_row);

double silu(double g);
// SwiGLU of bf16 rows y [rows][2 * ffn] (gate half, then up half): out [rows][ffn] = silu(g) * u.
void swiglu_ref(const std::uint16_t* y, std::int64_t rows, int ffn, std::vector<double>& out);

// One token's combine: out[h] = sum_j weights[j] * rows[j][h] over its top_k returned rows, and
// abs_sum[h] = sum_j |weights[j] * rows[j][h]|.
void combine_row_ref(const std::uint16_t* const* rows, const float* weights, int top_k, int hidden, double* out,
                     double* abs_sum);
// All tokens: expert_out [tokens * top_k][hidden] in permuted order, perm_row and weights [tokens][top_k].
std::vector<double> combine_ref(const std::uint16_t* expert_out, const std::vector<int>& perm_row, const float* weights,
                                int tokens, int top_k, int hidden);

}  // namespace moesim::calib
