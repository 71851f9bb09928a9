#pragma once
// Combine (weighted un-permute): each token's output is the gate-weighted sum of its top_k
// expert output rows, accumulated in fp32 in the order j = 0..k-1 and rounded once to bf16. One
// warp per token, 16-byte loads with several rows in flight per lane.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace moesim::calib {

// rows [tokens * top_k][hidden] bf16 (permuted order), perm_row and weights [tokens][top_k]
// -> out [tokens][hidden] bf16; hidden % 8 == 0.
void launch_combine(const std::uint16_t* rows, const std::int32_t* perm_row, const float* weights, int tokens,
                    int hidden, int top_k, std::uint16_t* out, cudaStream_t stream);

}  // namespace moesim::calib
