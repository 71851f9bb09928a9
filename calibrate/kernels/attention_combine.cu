// The split-KV merge of the attention kernels (see attention_tile.cuh): each split's partial
// accumulator and softmax statistics, weighted by its log-sum-exp, into one bf16 output row.
#include <cmath>

#include "bench/cuda_check.hpp"
#include "kernels/attention_tile.cuh"

namespace moesim::calib::attention_detail {

namespace {

constexpr int kCombineBlock = 256;

// One warp per output row: the splits' partial results weighted by exp2(m_s - M) over the sum of
// their l_s weighted the same way (a split that saw no key of the row has m = -inf, weight 0).
__global__ void __launch_bounds__(kCombineBlock) attention_combine_kernel(CombineArgs c) {
  const long long w = (static_cast<long long>(blockIdx.x) * kCombineBlock + threadIdx.x) / 32;
  const int lane = static_cast<int>(threadIdx.x % 32);
  if (w >= c.row_count) return;
  const float* ml = c.ml + w * c.splits * 2;
  float m_max = -INFINITY;
  for (int s = 0; s < c.splits; ++s) m_max = fmaxf(m_max, ml[2 * s]);
  float l_sum = 0;
  for (int s = 0; s < c.splits; ++s)
    if (ml[2 * s] != -INFINITY) l_sum += ml[2 * s + 1] * exp2f(ml[2 * s] - m_max);
  const float inv = 1.0f / l_sum;
  const long long bg = w / c.rows;
  const int row = static_cast<int>(w % c.rows);
  const long long b = bg / c.kv_heads, g = bg % c.kv_heads;
  const long long i = row / c.group, h = g * c.group + row % c.group;
  bf16* dst = c.out + b * c.out_stride + (i * c.heads + h) * c.dv;
  const float* acc = c.acc + w * c.splits * c.dv;
  for (int col = lane * 8; col < c.dv; col += 32 * 8) {
    float x[8] = {};
    for (int s = 0; s < c.splits; ++s) {
      if (ml[2 * s] == -INFINITY) continue;
      const float weight = exp2f(ml[2 * s] - m_max) * inv;
      const float4* p = reinterpret_cast<const float4*>(acc + static_cast<long long>(s) * c.dv + col);
      const float4 lo = p[0], hi = p[1];
      x[0] += weight * lo.x;
      x[1] += weight * lo.y;
      x[2] += weight * lo.z;
      x[3] += weight * lo.w;
      x[4] += weight * hi.x;
      x[5] += weight * hi.y;
      x[6] += weight * hi.z;
      x[7] += weight * hi.w;
    }
    *reinterpret_cast<uint4*>(dst + col) = pack_bf16x8(x);
  }
}

}  // namespace

void launch_attention_combine(const CombineArgs& c, cudaStream_t stream) {
  const long long blocks = (c.row_count * 32 + kCombineBlock - 1) / kCombineBlock;
  attention_combine_kernel<<<static_cast<unsigned>(blocks), kCombineBlock, 0, stream>>>(c);
  MOESIM_CUDA_LAUNCH_CHECK("attention_combine_kernel");
}

}  // namespace moesim::calib::attention_detail
