#pragma once
// Where the scales of DeepSeek-V3-style fp8 tensors live, as cuBLASLt's block-scaled matmul reads
// them on Hopper (CUDA >= 12.9): activations e4m3 with one fp32 scale per row and 128 columns
// (VEC128_32F), weights e4m3 with one fp32 scale per 128 x 128 block (BLK128x128_32F). Assumption
// (cuBLAS docs; TransformerEngine lays them out so): the VEC128 scales of an R-row operand are
// [K/128][R] (rows contiguous, R a multiple of 4), the BLK128x128 scales of an M x K weight
// [M/128][ceil(K/128) rounded up to 4]. Plain C++ for host and device code (the CPU tests use it).
#include <cstdint>

#include "reference/host_values.hpp"  // MOESIM_HD

namespace moesim::calib {

inline constexpr int kFp8Block = 128;         // columns per activation scale; weight blocks are 128 x 128
inline constexpr int kFp8RowAlign = 8;        // an expert's rows are padded to this many: cuBLASLt wants a
                                              // block-scaled (VEC128) B operand's n to be a multiple of 8
inline constexpr float kFp8E4m3Max = 448.0f;  // largest finite e4m3: scale = amax / 448

MOESIM_HD inline int fp8_scale_blocks(int cols) { return (cols + kFp8Block - 1) / kFp8Block; }
MOESIM_HD inline int fp8_padded_rows(int rows) { return (rows + kFp8RowAlign - 1) / kFp8RowAlign * kFp8RowAlign; }

// Leading dimension of a weight's block scales: its K blocks rounded up to 4 (16-byte rows).
MOESIM_HD inline int fp8_weight_scale_ld(int k) { return (fp8_scale_blocks(k) + 3) / 4 * 4; }
// Scales of one m x k weight (out = act W^T, W row-major [m][k]), padding included.
MOESIM_HD inline std::int64_t fp8_weight_scale_count(int m, int k) {
  return static_cast<std::int64_t>(fp8_scale_blocks(m)) * fp8_weight_scale_ld(k);
}
// The scale of weight element (row, col) of an m x k weight.
MOESIM_HD inline std::int64_t fp8_weight_scale_index(int row, int col, int k) {
  return static_cast<std::int64_t>(row / kFp8Block) * fp8_weight_scale_ld(k) + col / kFp8Block;
}

// Activation rows split into groups (one per expert with tokens): group g owns rows
// [first_row[g], first_row[g + 1]), and its scales are one VEC128 tensor [blocks][group rows], the
// groups' tensors one after another (so group g's start at first_row[g] * blocks).
MOESIM_HD inline std::int64_t fp8_act_scale_index(std::int64_t group_first, std::int64_t group_rows, int blocks,
                                                  std::int64_t row, int block) {
  return group_first * blocks + block * group_rows + (row - group_first);
}

// The group of `row`: the last g < groups with first_row[g] <= row (empty groups are skipped).
MOESIM_HD inline int fp8_group_of(const int* first_row, int groups, std::int64_t row) {
  int lo = 0, hi = groups - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (first_row[mid] <= row)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

}  // namespace moesim::calib
