// Top-k gate kernel (see gate_topk.hpp). Assumption: experts <= 512, so one warp holds a token's
// scores in registers (kSlots per lane) and every selection step is a warp-wide arg-max.
#include "kernels/gate_topk.hpp"

#include <climits>
#include <string>

#include "bench/cuda_check.hpp"
#include "kernels/fill.hpp"

namespace moesim::calib {

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kBlock = 256;

struct TopkParams {
  const float* logits;
  const float* bias;
  int tokens, experts, top_k, n_group, topk_group;
  bool sigmoid, normalize;
  float scaling;
  std::int32_t* ids;
  float* weights;
};

__device__ __forceinline__ bool better(float v1, int e1, float v2, int e2) { return v1 > v2 || (v1 == v2 && e1 < e2); }

// Order-preserving map of floats to unsigned ints (larger float, larger key; -inf above 0).
[[maybe_unused]] __device__ __forceinline__ unsigned ordered_key(float v) {
  const unsigned u = v == 0.0f ? 0u : __float_as_uint(v);  // -0 and +0 are the same key
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Warp-wide best (v, id) with ties to the lower id: every lane gets the winning id, and in
// `carry_out` the `carry` of the lane that held it. Lanes without a candidate pass -inf, INT_MAX.
__device__ __forceinline__ int warp_best(float v, int id, float carry, float& carry_out) {
#if __CUDA_ARCH__ >= 800
  const unsigned key = ordered_key(v);
  const unsigned top = __reduce_max_sync(kFull, key);
  const int best = __reduce_min_sync(kFull, key == top ? id : INT_MAX);
#else
  float bv = v;
  int best = id;
  for (int off = 16; off > 0; off >>= 1) {
    const float v2 = __shfl_xor_sync(kFull, bv, off);
    const int i2 = __shfl_xor_sync(kFull, best, off);
    if (better(v2, i2, bv, best)) {
      bv = v2;
      best = i2;
    }
  }
#endif
  const unsigned holder = __ballot_sync(kFull, id == best);
  carry_out = __shfl_sync(kFull, carry, __ffs(holder) - 1);
  return best;
}

// Expert held in slot s of `lane`: 16-byte vectors (4 experts) strided by the warp, or scalars.
template <bool kVec>
__device__ __forceinline__ int slot_expert(int lane, int s) {
  return kVec ? 4 * (lane + 32 * (s / 4)) + (s % 4) : lane + 32 * s;
}

template <int kSlots, bool kVec>
__global__ void __launch_bounds__(kBlock) topk_kernel(TopkParams p) {
  const int lane = threadIdx.x & 31;
  const int warps = static_cast<int>((gridDim.x * blockDim.x) >> 5);
  const int per_group = p.experts / p.n_group;
  for (int t = static_cast<int>((blockIdx.x * blockDim.x + threadIdx.x) >> 5); t < p.tokens; t += warps) {
    const float* row = p.logits + static_cast<std::size_t>(t) * p.experts;
    float score[kSlots], choice[kSlots];  // score: logit (softmax) or sigmoid; choice: what selects
    if constexpr (kVec) {
#pragma unroll
      for (int j = 0; j < kSlots / 4; ++j) {
        const int e0 = 4 * (lane + 32 * j);
        const float4 q = e0 < p.experts ? __ldg(reinterpret_cast<const float4*>(row + e0)) : make_float4(0, 0, 0, 0);
        score[4 * j] = q.x;
        score[4 * j + 1] = q.y;
        score[4 * j + 2] = q.z;
        score[4 * j + 3] = q.w;
      }
    } else {
#pragma unroll
      for (int s = 0; s < kSlots; ++s) {
        const int e = lane + 32 * s;
        score[s] = e < p.experts ? __ldg(row + e) : 0.0f;
      }
    }
    unsigned valid = 0;
    float mx = -INFINITY;
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
      const int e = slot_expert<kVec>(lane, s);
      if (e >= p.experts) {
        choice[s] = -INFINITY;
        continue;
      }
      valid |= 1u << s;
      if (p.sigmoid) {
        score[s] = 1.0f / (1.0f + expf(-score[s]));
        choice[s] = score[s] + (p.bias ? __ldg(p.bias + e) : 0.0f);
      } else {
        choice[s] = score[s];
        mx = fmaxf(mx, score[s]);
      }
    }
    if (p.sigmoid && p.n_group > 1) {
      // Group score = sum of its two best choice scores; lane g keeps group g's.
      // Each slot's group id (< 32, 5 bits), six to a register to spare registers.
      unsigned groups[(kSlots + 5) / 6] = {};
#pragma unroll
      for (int s = 0; s < kSlots; ++s)
        groups[s / 6] |= static_cast<unsigned>(min(slot_expert<kVec>(lane, s) / per_group, 31)) << (5 * (s % 6));
      const auto group_of = [&](int s) { return static_cast<int>((groups[s / 6] >> (5 * (s % 6))) & 31u); };
      float my_group = -INFINITY;
      for (int g = 0; g < p.n_group; ++g) {
        float b1 = -INFINITY, b2 = -INFINITY;
#pragma unroll
        for (int s = 0; s < kSlots; ++s) {
          if (!((valid >> s) & 1u) || group_of(s) != g) continue;
          if (choice[s] > b1) {
            b2 = b1;
            b1 = choice[s];
          } else if (choice[s] > b2) {
            b2 = choice[s];
          }
        }
        for (int off = 16; off > 0; off >>= 1) {
          const float o1 = __shfl_xor_sync(kFull, b1, off), o2 = __shfl_xor_sync(kFull, b2, off);
          const float hi = fmaxf(b1, o1), lo = fmaxf(fminf(b1, o1), fmaxf(b2, o2));
          b1 = hi;
          b2 = lo;
        }
        if (lane == g) my_group = b1 + b2;
      }
      unsigned picked = 0;  // the topk_group best groups (ties: lower group id)
      for (int r = 0; r < p.topk_group; ++r) {
        const bool open = lane < p.n_group && !((picked >> lane) & 1u);
        float unused;
        picked |= 1u << warp_best(open ? my_group : -INFINITY, open ? lane : INT_MAX, 0.0f, unused);
      }
#pragma unroll
      for (int s = 0; s < kSlots; ++s)
        if (((valid >> s) & 1u) && !((picked >> group_of(s)) & 1u)) valid &= ~(1u << s);
    }
    float denom = 0;  // softmax: sum over all experts of exp(logit - max)
    if (!p.sigmoid) {
      for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, off));
#pragma unroll
      for (int s = 0; s < kSlots; ++s)
        if ((valid >> s) & 1u) denom += expf(score[s] - mx);
      for (int off = 16; off > 0; off >>= 1) denom += __shfl_xor_sync(kFull, denom, off);
    }
    int my_id = 0;
    float my_score = 0;
    for (int r = 0; r < p.top_k; ++r) {
      float v = -INFINITY, sc = 0;
      int e = INT_MAX;
#pragma unroll
      for (int s = 0; s < kSlots; ++s) {
        const int ex = slot_expert<kVec>(lane, s);
        if (((valid >> s) & 1u) && better(choice[s], ex, v, e)) {
          v = choice[s];
          e = ex;
          sc = score[s];
        }
      }
      e = warp_best(v, e, sc, sc);
#pragma unroll
      for (int s = 0; s < kSlots; ++s)
        if (slot_expert<kVec>(lane, s) == e) valid &= ~(1u << s);
      if (lane == r) {
        my_id = e;
        my_score = sc;
      }
    }
    float mine = 0;  // this lane's unnormalised weight (lanes < top_k)
    if (lane < p.top_k) mine = p.sigmoid ? my_score : expf(my_score - mx);
    float sum = mine;
    for (int off = 16; off > 0; off >>= 1) sum += __shfl_xor_sync(kFull, sum, off);
    if (lane < p.top_k) {
      float w;
      if (p.sigmoid)
        w = (p.normalize && p.top_k > 1 ? mine / (sum + 1e-20f) : mine) * p.scaling;
      else
        w = mine / (p.normalize ? sum : denom);
      const std::size_t at = static_cast<std::size_t>(t) * p.top_k + lane;
      p.ids[at] = my_id;
      p.weights[at] = w;
    }
  }
}

template <int kSlots>
void launch_slots(const TopkParams& p, bool vec, unsigned grid, cudaStream_t stream) {
  if (vec)
    topk_kernel<kSlots, true><<<grid, kBlock, 0, stream>>>(p);
  else
    topk_kernel<kSlots, false><<<grid, kBlock, 0, stream>>>(p);
  MOESIM_CUDA_LAUNCH_CHECK("topk_kernel");
}

}  // namespace

void launch_topk(const float* logits, const float* bias, int tokens, const GateConfig& c, std::int32_t* ids,
                 float* weights, cudaStream_t stream) {
  const bool sigmoid = c.kind == GateKind::SigmoidGroupTopk;
  const int groups = sigmoid ? c.n_group : 1;
  if (c.experts < 2 || c.experts > 512 || c.top_k < 1 || c.top_k > 32 || c.top_k > c.experts || groups < 1 ||
      groups > 32 || c.experts % groups != 0 || (groups > 1 && (c.experts / groups < 2 || c.topk_group < 1 ||
                                                                c.topk_group > groups ||
                                                                c.top_k > c.topk_group * (c.experts / groups))))
    throw Error("launch_topk: gate configuration outside the kernel's limits (experts " + std::to_string(c.experts) +
                ", top_k " + std::to_string(c.top_k) + ", n_group " + std::to_string(groups) + ")");
  if (tokens <= 0) return;
  const TopkParams p{logits,    bias, tokens, c.experts, c.top_k, groups, sigmoid ? c.topk_group : 1, sigmoid,
                     c.normalize, c.scaling, ids, weights};
  const bool vec = c.experts % 4 == 0;
  const unsigned grid = grid_for(static_cast<std::size_t>(tokens) * 32, kBlock);
  if (c.experts <= 128)
    launch_slots<4>(p, vec, grid, stream);
  else if (c.experts <= 256)
    launch_slots<8>(p, vec, grid, stream);
  else
    launch_slots<16>(p, vec, grid, stream);
}

}  // namespace moesim::calib
