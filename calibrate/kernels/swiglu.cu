// SwiGLU kernel (see swiglu.hpp).
#include "kernels/swiglu.hpp"

#include <cuda_bf16.h>

#include <string>

#include "bench/cuda_check.hpp"
#include "kernels/fill.hpp"

namespace moesim::calib {

namespace {

constexpr unsigned kBlock = 256;

template <class Index>
__global__ void __launch_bounds__(kBlock)
    swiglu_kernel(const uint4* __restrict__ y, uint4* __restrict__ out, Index rows, Index f8) {
  const Index n = rows * f8;
  for (Index i = blockIdx.x * kBlock + threadIdx.x; i < n; i += gridDim.x * kBlock) {
    const Index r = i / f8, c = i - r * f8;
    const uint4 g = y[r * 2 * f8 + c], u = y[r * 2 * f8 + f8 + c];
    const __nv_bfloat162* g2 = reinterpret_cast<const __nv_bfloat162*>(&g);
    const __nv_bfloat162* u2 = reinterpret_cast<const __nv_bfloat162*>(&u);
    uint4 o;
    __nv_bfloat162* o2 = reinterpret_cast<__nv_bfloat162*>(&o);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const float2 gf = __bfloat1622float2(g2[q]), uf = __bfloat1622float2(u2[q]);
      o2[q] = __floats2bfloat162_rn(gf.x / (1.0f + expf(-gf.x)) * uf.x, gf.y / (1.0f + expf(-gf.y)) * uf.y);
    }
    out[i] = o;
  }
}

}  // namespace

void launch_swiglu(const std::uint16_t* y, std::int64_t rows, int ffn, std::uint16_t* out, cudaStream_t stream) {
  if (ffn % 8 != 0 || ffn <= 0 || rows < 0)
    throw Error("launch_swiglu: ffn must be a positive multiple of 8 (got " + std::to_string(ffn) + ")");
  if (rows == 0) return;
  const std::size_t f8 = static_cast<std::size_t>(ffn) / 8, n = static_cast<std::size_t>(rows) * f8;
  const unsigned grid = grid_for(n, kBlock);
  const uint4* yv = reinterpret_cast<const uint4*>(y);
  uint4* ov = reinterpret_cast<uint4*>(out);
  if (static_cast<std::size_t>(rows) * 2 * f8 + f8 < (1u << 31) - static_cast<std::size_t>(grid) * kBlock)
    swiglu_kernel<unsigned>
        <<<grid, kBlock, 0, stream>>>(yv, ov, static_cast<unsigned>(rows), static_cast<unsigned>(f8));
  else
    swiglu_kernel<std::size_t><<<grid, kBlock, 0, stream>>>(yv, ov, static_cast<std::size_t>(rows), f8);
  MOESIM_CUDA_LAUNCH_CHECK("swiglu_kernel");
}

}  // namespace moesim::calib
