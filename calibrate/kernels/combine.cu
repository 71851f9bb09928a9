// Combine kernel (see combine.hpp).
#include "kernels/combine.hpp"

#include <cuda_bf16.h>

#include <string>

#include "bench/cuda_check.hpp"
#include "kernels/fill.hpp"

namespace moesim::calib {

namespace {

constexpr int kBlock = 256;
constexpr int kWarps = kBlock / 32;
constexpr int kInFlight = 4;  // rows loaded before accumulating

__device__ __forceinline__ void accumulate(float (&acc)[8], const uint4& v, float w) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const float2 f = __bfloat1622float2(h[q]);
    acc[2 * q] = fmaf(w, f.x, acc[2 * q]);
    acc[2 * q + 1] = fmaf(w, f.y, acc[2 * q + 1]);
  }
}

__global__ void __launch_bounds__(kBlock)
    combine_kernel(const uint4* __restrict__ rows, const std::int32_t* __restrict__ perm_row,
                   const float* __restrict__ weights, int tokens, int top_k, int row_vec, uint4* __restrict__ out) {
  __shared__ int row_of[kWarps][32];
  __shared__ float weight_of[kWarps][32];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  for (int t = blockIdx.x * kWarps + w; t < tokens; t += gridDim.x * kWarps) {
    if (lane < top_k) {
      const std::size_t a = static_cast<std::size_t>(t) * top_k + lane;
      row_of[w][lane] = perm_row[a];
      weight_of[w][lane] = weights[a];
    }
    __syncwarp();
    for (int c = lane; c < row_vec; c += 32) {
      float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int j0 = 0; j0 < top_k; j0 += kInFlight) {
        uint4 v[kInFlight];
#pragma unroll
        for (int q = 0; q < kInFlight; ++q)
          if (j0 + q < top_k) v[q] = rows[static_cast<std::size_t>(row_of[w][j0 + q]) * row_vec + c];
#pragma unroll
        for (int q = 0; q < kInFlight; ++q)
          if (j0 + q < top_k) accumulate(acc, v[q], weight_of[w][j0 + q]);
      }
      uint4 o;
      __nv_bfloat162* o2 = reinterpret_cast<__nv_bfloat162*>(&o);
#pragma unroll
      for (int q = 0; q < 4; ++q) o2[q] = __floats2bfloat162_rn(acc[2 * q], acc[2 * q + 1]);
      out[static_cast<std::size_t>(t) * row_vec + c] = o;
    }
    __syncwarp();
  }
}

}  // namespace

void launch_combine(const std::uint16_t* rows, const std::int32_t* perm_row, const float* weights, int tokens,
                    int hidden, int top_k, std::uint16_t* out, cudaStream_t stream) {
  if (hidden % 8 != 0 || top_k < 1 || top_k > 32 || tokens < 0)
    throw Error("launch_combine: needs hidden % 8 == 0 and 1 <= top_k <= 32 (hidden " + std::to_string(hidden) +
                ", top_k " + std::to_string(top_k) + ")");
  if (tokens == 0) return;
  const unsigned grid = grid_for(static_cast<std::size_t>(tokens) * 32, kBlock);
  combine_kernel<<<grid, kBlock, 0, stream>>>(reinterpret_cast<const uint4*>(rows), perm_row, weights, tokens, top_k,
                                              hidden / 8, reinterpret_cast<uint4*>(out));
  MOESIM_CUDA_LAUNCH_CHECK("combine_kernel");
}

}  // namespace moesim::calib
