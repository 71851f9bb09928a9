// fp8 e4m3 activation quantisation, alone and fused with SwiGLU (see quantize_fp8.hpp).
#include "kernels/quantize_fp8.hpp"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <string>

#include "bench/cuda_check.hpp"
#include "kernels/fill.hpp"
#include "kernels/fp8_layout.hpp"

namespace moesim::calib {

namespace {

constexpr unsigned kBlock = 256;
constexpr int kLanes = 16;  // threads per (row, 128-column block), 8 values each

// One (row, 128 columns) block per 16 lanes: its 128 values v (bf16 x, or silu(g) * u of y), the
// block's amax over the 16 lanes, then e4m3(v / scale) and lane 0 writes the scale. Both halves of
// a warp loop independently (each its own block), so shuffles use the half-warp's mask.
template <bool kSwiglu>
__global__ void __launch_bounds__(kBlock)
    quantize_kernel(const uint4* __restrict__ in, std::int64_t rows, int blocks, const int* __restrict__ first_row,
                    int groups, float tensor_scale, uint2* __restrict__ out, float* __restrict__ scales) {
  const unsigned lane = threadIdx.x % kLanes;
  const unsigned half_mask = 0xFFFFu << (threadIdx.x & 16u);
  const std::int64_t segments = rows * blocks;
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * (kBlock / kLanes);
  for (std::int64_t s = (static_cast<std::int64_t>(blockIdx.x) * kBlock + threadIdx.x) / kLanes; s < segments;
       s += stride) {
    const std::int64_t r = s / blocks;
    const int b = static_cast<int>(s - r * blocks);
    float v[8];
    if constexpr (kSwiglu) {
      const std::int64_t at = r * 2 * blocks * kLanes + static_cast<std::int64_t>(b) * kLanes + lane;
      const uint4 g = in[at], u = in[at + static_cast<std::int64_t>(blocks) * kLanes];
      const __nv_bfloat162* g2 = reinterpret_cast<const __nv_bfloat162*>(&g);
      const __nv_bfloat162* u2 = reinterpret_cast<const __nv_bfloat162*>(&u);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const float2 gf = __bfloat1622float2(g2[q]), uf = __bfloat1622float2(u2[q]);
        v[2 * q] = gf.x / (1.0f + expf(-gf.x)) * uf.x;
        v[2 * q + 1] = gf.y / (1.0f + expf(-gf.y)) * uf.y;
      }
    } else {
      const uint4 x = in[s * kLanes + lane];
      const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&x);
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const float2 xf = __bfloat1622float2(x2[q]);
        v[2 * q] = xf.x;
        v[2 * q + 1] = xf.y;
      }
    }
    float amax = 0.0f;
#pragma unroll
    for (int i = 0; i < 8; ++i) amax = fmaxf(amax, fabsf(v[i]));
#pragma unroll
    for (int o = kLanes / 2; o > 0; o /= 2) amax = fmaxf(amax, __shfl_xor_sync(half_mask, amax, o, kLanes));
    // An all-zero block keeps scale 1 (its values are 0 whatever the scale) instead of dividing by 0.
    const float scale = tensor_scale > 0.0f ? tensor_scale : (amax > 0.0f ? amax / kFp8E4m3Max : 1.0f);
    unsigned short packed[4];
#pragma unroll
    for (int q = 0; q < 4; ++q)
      packed[q] =
          __nv_cvt_float2_to_fp8x2(make_float2(v[2 * q] / scale, v[2 * q + 1] / scale), __NV_SATFINITE, __NV_E4M3);
    out[s * kLanes + lane] = make_uint2(packed[0] | (static_cast<unsigned>(packed[1]) << 16),
                                        packed[2] | (static_cast<unsigned>(packed[3]) << 16));
    if (lane == 0) {
      std::int64_t first = 0, size = rows;
      if (first_row != nullptr) {
        const int g = fp8_group_of(first_row, groups, r);
        first = first_row[g];
        size = first_row[g + 1] - first;
      }
      scales[fp8_act_scale_index(first, size, blocks, r, b)] = scale;
    }
  }
}

template <bool kSwiglu>
void launch(const std::uint16_t* in, std::int64_t rows, int cols, Fp8RowGroups groups, float tensor_scale,
            std::uint8_t* out, float* scales, cudaStream_t stream, const char* name) {
  if (cols <= 0 || cols % kFp8Block != 0 || rows < 0)
    throw Error(std::string(name) + ": columns must be a positive multiple of 128 (got " + std::to_string(cols) + ")");
  if (groups.first_row != nullptr && groups.groups < 1)
    throw Error(std::string(name) + ": a row-group table needs at least one group");
  if (!(tensor_scale >= 0.0f)) throw Error(std::string(name) + ": the tensor scale must be >= 0 (0 = per block)");
  if (rows == 0) return;
  const int blocks = cols / kFp8Block;
  const std::size_t threads = static_cast<std::size_t>(rows) * static_cast<std::size_t>(blocks) * kLanes;
  quantize_kernel<kSwiglu><<<grid_for(threads, kBlock), kBlock, 0, stream>>>(
      reinterpret_cast<const uint4*>(in), rows, blocks, groups.first_row, groups.groups, tensor_scale,
      reinterpret_cast<uint2*>(out), scales);
  MOESIM_CUDA_LAUNCH_CHECK(name);
}

}  // namespace

void launch_quantize_fp8(const std::uint16_t* x, std::int64_t rows, int cols, Fp8RowGroups groups, float tensor_scale,
                         std::uint8_t* q, float* scales, cudaStream_t stream) {
  launch<false>(x, rows, cols, groups, tensor_scale, q, scales, stream, "quantize_fp8_kernel");
}

void launch_swiglu_quantize_fp8(const std::uint16_t* y, std::int64_t rows, int ffn, Fp8RowGroups groups,
                                float tensor_scale, std::uint8_t* act, float* scales, cudaStream_t stream) {
  launch<true>(y, rows, ffn, groups, tensor_scale, act, scales, stream, "swiglu_quantize_fp8_kernel");
}

}  // namespace moesim::calib
