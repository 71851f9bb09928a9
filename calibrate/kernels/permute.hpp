#pragma once
// Permute (dispatch layout): token rows copied into expert-contiguous order. Histogram of the
// expert ids with an exclusive prefix sum (offsets), then one warp per token reserves its k rows
// with atomics and writes its row k times with 16-byte stores. Assumption: the order of rows
// inside one expert does not matter (it follows the atomics; combine uses perm_row).
#include <cuda_runtime_api.h>

#include <cstdint>

namespace moesim::calib {

// Scratch ints the permute needs (counts, cursors, a done counter); zeroed inside each call.
inline int permute_scratch_ints(int experts) { return 2 * experts + 1; }

// x [tokens][hidden] bf16 -> x_perm [tokens * top_k][hidden] bf16; offsets [experts + 1];
// perm_row [tokens * top_k]: row of x_perm holding token t's j-th copy at t * top_k + j.
// hidden % 8 == 0, experts <= 1024 (throws Error otherwise).
void launch_permute(const std::uint16_t* x, const std::int32_t* ids, int tokens, int hidden, int top_k, int experts,
                    int* scratch, int* offsets, std::int32_t* perm_row, std::uint16_t* x_perm, cudaStream_t stream);

}  // namespace moesim::calib
