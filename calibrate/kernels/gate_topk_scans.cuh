#pragma once
// Device helpers of the top-k gate kernel (gate_topk.cu): warp-wide arg-max, and the general
// group stage and picks by rescanning a lane's slots that any gate layout can use (the fast path
// of gate_topk.cu covers the common layouts only). Included by gate_topk.cu alone.
#include <climits>
#include <cstdint>

namespace moesim::calib::topk_detail {

constexpr unsigned kFull = 0xffffffffu;

struct TopkParams {
  const float* logits;
  const float* bias;
  int tokens, experts, top_k, n_group, topk_group;
  bool sigmoid, normalize;
  float scaling;
  std::int32_t* ids;
  float* weights;
  // Vector path only: groups are whole segments of seg_lanes lanes within a quad of 4 slots
  // (experts per group a power of two in [4, 128]; group_shift = its log2); with no groups the
  // segments are 8 lanes (32 experts). bound: the segments' second bests bound the k-th best.
  bool segment_groups, bound;
  int seg_lanes, group_shift;
  int sum_lanes;  // the power of two >= top_k
};

__device__ __forceinline__ bool better(float v1, int e1, float v2, int e2) { return v1 > v2 || (v1 == v2 && e1 < e2); }

// Order-preserving map of floats to unsigned ints (larger float, larger key; -inf above 0).
__device__ __forceinline__ unsigned ordered_key(float v) {
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

// Any group layout: group score = sum of its two best choices; drops from `valid` the slots
// outside the topk_group best groups (ties: lower group id).
template <int kSlots, bool kVec>
__device__ __forceinline__ unsigned mask_groups_by_scans(const TopkParams& p, const float* choice, unsigned valid,
                                                         int lane) {
  const int per_group = p.experts / p.n_group;
  // Each slot's group id (< 32, 5 bits), six to a register to spare registers.
  unsigned groups[(kSlots + 5) / 6] = {};
#pragma unroll
  for (int s = 0; s < kSlots; ++s)
    groups[s / 6] |= static_cast<unsigned>(min(slot_expert<kVec>(lane, s) / per_group, 31)) << (5 * (s % 6));
  const auto group_of = [&](int s) { return static_cast<int>((groups[s / 6] >> (5 * (s % 6))) & 31u); };
  float my_group = -INFINITY;  // lane g keeps group g's score
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
  unsigned picked = 0;
  for (int r = 0; r < p.topk_group; ++r) {
    const bool open = lane < p.n_group && !((picked >> lane) & 1u);
    float unused;
    picked |= 1u << warp_best(open ? my_group : -INFINITY, open ? lane : INT_MAX, 0.0f, unused);
  }
#pragma unroll
  for (int s = 0; s < kSlots; ++s)
    if (((valid >> s) & 1u) && !((picked >> group_of(s)) & 1u)) valid &= ~(1u << s);
  return valid;
}

// Fallback: top_k warp-wide arg-max picks, each rescanning the lane's slots. Lane r < top_k
// gets pick r.
template <int kSlots, bool kVec>
__device__ __forceinline__ void pick_by_rescans(const TopkParams& p, const float* score, const float* choice,
                                                unsigned valid, int lane, int& my_id, float& my_score) {
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
}

}  // namespace moesim::calib::topk_detail
