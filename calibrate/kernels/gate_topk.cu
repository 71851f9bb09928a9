// Top-k gate kernel (see gate_topk.hpp). Assumption: experts <= 512, so one warp holds a token's
// scores in registers (kSlots per lane). A threshold from per-segment top-2s cuts the token to a few
// candidates (usually 8-20) that are ranked in shared memory; rescans are the fallback.
#include "kernels/gate_topk.hpp"

#include <climits>
#include <string>

#include "bench/cuda_check.hpp"
#include "kernels/gate_topk_scans.cuh"

namespace moesim::calib {

namespace {

using namespace topk_detail;  // NOLINT: the kernel's own helpers

constexpr int kBlock = 256;

// A warp's scratch for ranking its candidates (one per lane at most). Entry 32 takes the stores
// of lanes with nothing to store, so that no store needs a branch.
struct WarpScratch {
  float4 cand[33];             // choice, expert id (bits), score
  unsigned long long key[32];  // ordered choice << 32 | ~id: larger is better
  float2 pick[33];             // expert id (bits), score, by rank
};

__device__ __forceinline__ float key_float(unsigned k) {
  return __uint_as_float((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// v = 1.0f / (1.0f + expf(-v)) bit for bit. The division is nvcc's rcp.rn: a refined MUFU.RCP
// while the denominator is in range, else a slow path; here one branch for all slots, not one each.
template <int kSlots>
__device__ __forceinline__ void sigmoid_in_place(float* v) {
  float den[kSlots];
  bool slow = false;
#pragma unroll
  for (int s = 0; s < kSlots; ++s) {
    den[s] = 1.0f + expf(-v[s]);
    float r;
    asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(den[s]));
    v[s] = fmaf(r, -fmaf(den[s], r, -1.0f), r);
    slow |= ((__float_as_uint(den[s]) + 0x01800000u) & 0x7f800000u) <= 0x01ffffffu;
  }
  if (slow) {
#pragma unroll
    for (int s = 0; s < kSlots; ++s) v[s] = 1.0f / den[s];
  }
}

// Vector layout (slot 4q + c of lane l holds expert 128q + 4l + c): top-2 of every segment of
// seg_lanes lanes in each quad q; then either the groups (segments) are picked, dropping the
// others from `valid`, or (no groups) nothing is dropped. Returns the selection bound: at least
// top_k allowed choices are >= it (-inf when the segments cannot say).
template <int kSlots>
__device__ __forceinline__ float segment_bound(const TopkParams& p, const float* choice, unsigned& valid, int lane) {
  constexpr int kQuads = kSlots / 4;
  float hi[kQuads], lo[kQuads];
#pragma unroll
  for (int q = 0; q < kQuads; ++q) {  // top-2 (a multiset) of the quad; invalid slots hold -inf
    hi[q] = fmaxf(choice[4 * q], choice[4 * q + 1]);
    lo[q] = fminf(choice[4 * q], choice[4 * q + 1]);
#pragma unroll
    for (int c = 2; c < 4; ++c) {
      lo[q] = fmaxf(lo[q], fminf(hi[q], choice[4 * q + c]));
      hi[q] = fmaxf(hi[q], choice[4 * q + c]);
    }
  }
#pragma unroll
  for (int off = 16; off > 0; off >>= 1) {
    if (off >= p.seg_lanes) continue;
#pragma unroll
    for (int q = 0; q < kQuads; ++q) {
      const float o1 = __shfl_xor_sync(kFull, hi[q], off), o2 = __shfl_xor_sync(kFull, lo[q], off);
      lo[q] = fmaxf(fminf(hi[q], o1), fmaxf(lo[q], o2));
      hi[q] = fmaxf(hi[q], o1);
    }
  }
  unsigned low = UINT_MAX;  // this lane's smallest second best among the segments that count
  if (p.n_group > 1) {
    // A group's rank = the groups ahead of it (ties: lower id). Lane i of a segment compares its
    // group with groups i, i + seg_lanes, ...; a ballot per quad counts them for the segment.
    const int i = lane & (p.seg_lanes - 1);
    const unsigned segment = (p.seg_lanes == 32 ? kFull : (1u << p.seg_lanes) - 1) << (lane - i);
    int ahead[kQuads] = {};
    for (int j = i; j < p.n_group + i; j += p.seg_lanes) {  // the same trip count in every lane
      const int first = j << p.group_shift;  // group j's first expert: quad first >> 7, lane (first & 127) >> 2
      float gj = 0;
#pragma unroll
      for (int q = 0; q < kQuads; ++q) {
        const float s = __shfl_sync(kFull, hi[q] + lo[q], (first & 127) >> 2);
        if (q == first >> 7) gj = s;
      }
#pragma unroll
      for (int q = 0; q < kQuads; ++q) {
        const float gs = hi[q] + lo[q];
        const int g = (128 * q + 4 * lane) >> p.group_shift;
        ahead[q] += __popc(__ballot_sync(kFull, j < p.n_group && (gj > gs || (gj == gs && j < g))) & segment);
      }
    }
#pragma unroll
    for (int q = 0; q < kQuads; ++q) {
      if (((128 * q + 4 * lane) >> p.group_shift) < p.n_group && ahead[q] < p.topk_group)
        low = min(low, ordered_key(lo[q]));
      else
        valid &= ~(0xfu << (4 * q));
    }
  } else {
#pragma unroll
    for (int q = 0; q < kQuads; ++q)
      if (128 * q + 32 * (lane >> 3) < p.experts) low = min(low, ordered_key(lo[q]));
  }
  if (!p.bound) return -INFINITY;
#if __CUDA_ARCH__ >= 800
  low = __reduce_min_sync(kFull, low);
#else
  for (int off = 16; off > 0; off >>= 1) low = min(low, __shfl_xor_sync(kFull, low, off));
#endif
  return key_float(low);
}

// Ranks the valid choices >= bound when at most 32 are (false otherwise): lane r < top_k gets pick r.
template <int kSlots>
__device__ __forceinline__ bool pick_by_ranks(const TopkParams& p, const float* score, const float* choice,
                                              unsigned valid, float bound, int lane, WarpScratch& w, int& my_id,
                                              float& my_score) {
  __syncwarp();  // the previous token's reads of w are done
  const unsigned below = (1u << lane) - 1;
  unsigned n = 0;
#pragma unroll
  for (int s = 0; s < kSlots; ++s) {
    const bool c = ((valid >> s) & 1u) && choice[s] >= bound;
    const unsigned m = __ballot_sync(kFull, c);
    const unsigned at = n + __popc(m & below);
    w.cand[c && at < 32 ? at : 32] = make_float4(choice[s], __int_as_float(slot_expert<true>(lane, s)), score[s], 0.0f);
    n += __popc(m);
  }
  if (n > 32) return false;
  __syncwarp();
  const float4 me = w.cand[lane];
  const unsigned long long key =  // lanes past n: 0, below every candidate
      lane < n ? static_cast<unsigned long long>(ordered_key(me.x)) << 32 | ~__float_as_uint(me.y) : 0ull;
  w.key[lane] = key;
  __syncwarp();
  int rank = 0;
  for (unsigned j = 0; j < n; j += 4) {  // 4 keys a step: reading past n reads zeros
    const ulonglong2 a = *reinterpret_cast<const ulonglong2*>(&w.key[j]);
    const ulonglong2 b = *reinterpret_cast<const ulonglong2*>(&w.key[j + 2]);
    rank += (a.x > key) + (a.y > key) + (b.x > key) + (b.y > key);
  }
  w.pick[lane < n && rank < p.top_k ? rank : 32] = make_float2(me.y, me.z);
  __syncwarp();
  const float2 mine = w.pick[lane];  // meaningful in lanes < top_k
  my_id = __float_as_int(mine.x);
  my_score = mine.y;
  return true;
}

// row[e] for the experts in this lane's slots (0 past the experts).
template <int kSlots, bool kVec>
__device__ __forceinline__ void load_slots(const float* row, int experts, int lane, float* out) {
  if constexpr (kVec) {
#pragma unroll
    for (int j = 0; j < kSlots / 4; ++j) {
      const int e0 = 4 * (lane + 32 * j);
      const float4 q = e0 < experts ? __ldg(reinterpret_cast<const float4*>(row + e0)) : make_float4(0, 0, 0, 0);
      out[4 * j] = q.x;
      out[4 * j + 1] = q.y;
      out[4 * j + 2] = q.z;
      out[4 * j + 3] = q.w;
    }
  } else {
#pragma unroll
    for (int s = 0; s < kSlots; ++s) {
      const int e = lane + 32 * s;
      out[s] = e < experts ? __ldg(row + e) : 0.0f;
    }
  }
}

template <int kSlots, bool kVec, bool kSigmoid>
__global__ void __launch_bounds__(kBlock, kSlots == 4   ? 6
                                          : kSlots == 8 ? 5
                                                        : 1) topk_kernel(TopkParams p) {
  __shared__ WarpScratch scratch[kBlock / 32];
  WarpScratch& w = scratch[threadIdx.x >> 5];
  const int lane = threadIdx.x & 31;
  const int warps = static_cast<int>((gridDim.x * blockDim.x) >> 5);
  unsigned in_range = 0;  // the slots that hold experts
#pragma unroll
  for (int s = 0; s < kSlots; s += kVec ? 4 : 1)
    if (slot_expert<kVec>(lane, s) < p.experts) in_range |= (kVec ? 0xfu : 1u) << s;
  for (int t = static_cast<int>((blockIdx.x * blockDim.x + threadIdx.x) >> 5); t < p.tokens; t += warps) {
    float score[kSlots], choice[kSlots];  // score: logit (softmax) or sigmoid; choice: what selects
    load_slots<kSlots, kVec>(p.logits + static_cast<std::size_t>(t) * p.experts, p.experts, lane, score);
    if constexpr (kSigmoid) {
      sigmoid_in_place<kSlots>(score);
      float bias[kSlots] = {};  // from L1: every token reads the same
      if (p.bias) load_slots<kSlots, kVec>(p.bias, p.experts, lane, bias);
#pragma unroll
      for (int s = 0; s < kSlots; ++s) choice[s] = score[s] + bias[s];
    } else {
#pragma unroll
      for (int s = 0; s < kSlots; ++s) choice[s] = score[s];
    }
#pragma unroll
    for (int s = 0; s < kSlots; ++s)
      if (p.experts < 32 * kSlots && !((in_range >> s) & 1u)) choice[s] = -INFINITY;
    unsigned valid = in_range;
    float bound = -INFINITY;
    if (kVec && (p.segment_groups || p.n_group == 1))
      bound = segment_bound<kSlots>(p, choice, valid, lane);
    else if (kSigmoid && p.n_group > 1)
      valid = mask_groups_by_scans<kSlots, kVec>(p, choice, valid, lane);
    int my_id = 0;
    float my_score = 0;
    float mx = -INFINITY;  // softmax: the largest logit, which is the first pick's
    bool ranked = false;
    if constexpr (kVec) ranked = pick_by_ranks<kSlots>(p, score, choice, valid, bound, lane, w, my_id, my_score);
    if (ranked) {
      if (!kSigmoid) mx = w.pick[0].y;
    } else {
      if (!kSigmoid) {
#pragma unroll
        for (int s = 0; s < kSlots; ++s)
          if ((valid >> s) & 1u) mx = fmaxf(mx, score[s]);
        for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, off));
      }
      pick_by_rescans<kSlots, kVec>(p, score, choice, valid, lane, my_id, my_score);
    }
    float denom = 0;  // softmax without renormalising: sum over all experts of exp(logit - max)
    if (!kSigmoid && !p.normalize) {
#pragma unroll
      for (int s = 0; s < kSlots; ++s)
        if ((valid >> s) & 1u) denom += expf(score[s] - mx);
      for (int off = 16; off > 0; off >>= 1) denom += __shfl_xor_sync(kFull, denom, off);
    }
    const float mine = lane < p.top_k ? (kSigmoid ? my_score : expf(my_score - mx)) : 0.0f;  // unnormalised weight
    // Sum over lanes < top_k: the full butterfly's result, as lanes past top_k add exact zeros.
    float sum = mine;
#pragma unroll
    for (int off = 16; off > 0; off >>= 1)
      if (off < p.sum_lanes) sum += __shfl_xor_sync(kFull, sum, off);
    if (lane < p.top_k) {
      float wt;
      if constexpr (kSigmoid)
        wt = (p.normalize && p.top_k > 1 ? mine / (sum + 1e-20f) : mine) * p.scaling;
      else
        wt = mine / (p.normalize ? sum : denom);
      const std::size_t at = static_cast<std::size_t>(t) * p.top_k + lane;
      p.ids[at] = my_id;
      p.weights[at] = wt;
    }
  }
}

// One wave of resident blocks (at most one warp per token): each warp loops over several tokens,
// so its set-up is paid once, and no block waits for a slot.
template <int kSlots, bool kVec, bool kSigmoid>
void launch_resident(const TopkParams& p, cudaStream_t stream) {
  static const int per_sm = [] {  // blocks per SM: depends on the kernel only
    int n = 0;
    MOESIM_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, topk_kernel<kSlots, kVec, kSigmoid>, kBlock, 0));
    return n > 0 ? n : 1;
  }();
  int device = 0, sms = 0;
  MOESIM_CUDA_CHECK(cudaGetDevice(&device));
  MOESIM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const long long wanted = (static_cast<long long>(p.tokens) * 32 + kBlock - 1) / kBlock;
  const long long resident = static_cast<long long>(sms) * per_sm;
  const unsigned grid = static_cast<unsigned>(wanted < resident ? wanted : resident);
  topk_kernel<kSlots, kVec, kSigmoid><<<grid, kBlock, 0, stream>>>(p);
  MOESIM_CUDA_LAUNCH_CHECK("topk_kernel");
}

template <int kSlots>
void launch_slots(const TopkParams& p, bool vec, cudaStream_t stream) {
  if (p.sigmoid)
    vec ? launch_resident<kSlots, true, true>(p, stream) : launch_resident<kSlots, false, true>(p, stream);
  else
    vec ? launch_resident<kSlots, true, false>(p, stream) : launch_resident<kSlots, false, false>(p, stream);
}

}  // namespace

void launch_topk(const float* logits, const float* bias, int tokens, const GateConfig& c, std::int32_t* ids,
                 float* weights, cudaStream_t stream) {
  const bool sigmoid = c.kind == GateKind::SigmoidGroupTopk;
  const int groups = sigmoid ? c.n_group : 1;
  if (c.experts < 2 || c.experts > 512 || c.top_k < 1 || c.top_k > 32 || c.top_k > c.experts || groups < 1 ||
      groups > 32 || c.experts % groups != 0 ||
      (groups > 1 && (c.experts / groups < 2 || c.topk_group < 1 || c.topk_group > groups ||
                      c.top_k > c.topk_group * (c.experts / groups))))
    throw Error("launch_topk: gate configuration outside the kernel's limits (experts " + std::to_string(c.experts) +
                ", top_k " + std::to_string(c.top_k) + ", n_group " + std::to_string(groups) + ")");
  if (tokens <= 0) return;
  const int topk_group = sigmoid ? c.topk_group : 1, per_group = c.experts / groups;
  int shift = 0;
  while ((1 << shift) < per_group) ++shift;
  // Groups as segments: whole lanes (>= 4 experts), within one quad of 128 experts.
  const bool segment_groups = groups > 1 && (1 << shift) == per_group && per_group >= 4 && per_group <= 128;
  // Each picked group (or 32-expert segment) holds two choices >= its second best.
  const bool bound = groups > 1 ? segment_groups && 2 * topk_group >= c.top_k : 2 * ((c.experts + 31) / 32) >= c.top_k;
  int sum_lanes = 1;
  while (sum_lanes < c.top_k) sum_lanes *= 2;
  const TopkParams p{logits, bias,       tokens,         c.experts,   c.top_k,
                     groups, topk_group, sigmoid,        c.normalize, c.scaling,
                     ids,    weights,    segment_groups, bound,       segment_groups ? per_group / 4 : 8,
                     shift,  sum_lanes};
  const bool vec = c.experts % 4 == 0;
  if (c.experts <= 128)
    launch_slots<4>(p, vec, stream);
  else if (c.experts <= 256)
    launch_slots<8>(p, vec, stream);
  else
    launch_slots<16>(p, vec, stream);
}

}  // namespace moesim::calib
