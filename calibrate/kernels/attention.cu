// Attention kernels (see attention.hpp). Written for moesim from the FlashAttention-2 and
// flash-decoding papers' algorithms (online softmax over key tiles, split keys merged by their
// log-sum-exp); no code taken from their implementations.
#include "kernels/attention.hpp"

#include <cuda_bf16.h>
#include <mma.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>

#include "bench/cuda_check.hpp"
#include "kernels/attention_config.hpp"
#include "kernels/attention_tile.cuh"

namespace moesim::calib {

namespace {

// Tile layouts, fragment types and the copy helpers: attention_tile.cuh (shared with the combine).
using namespace attention_detail;

constexpr float kLog2e = 1.4426950408889634f;
// A split's key range is at least this long: below it the combine's extra pass and the partial
// writes cost more than the parallelism gains.
constexpr int kMinKeysPerSplit = 256;

struct KernelArgs {
  const bf16* q;
  const bf16* k;
  const bf16* v;  // null: the value is the key's first dv elements
  bf16* out;
  float* part_acc;  // [sequence, KV head, row][split][dv] when splits > 1
  float* part_ml;   // [sequence, KV head, row][split][2]: running max (log2 units), sum
  long long q_stride, k_stride, v_stride, out_stride;
  int queries, keys, heads, kv_heads, group, rows, k_row, v_row;
  int row_tiles, splits, tiles_per_split, bg_count;
  float scale_log2;  // softmax scale x log2(e): scores are kept in log2 units (exp2f)
  int causal;
};

// One block: BM rows (query token, query head of one KV group) of one sequence against the key
// tiles of one split. Per key tile: S = Q K^T (warps over 16x16 tiles), the online softmax
// (kRowThreads threads per row: running max m, sum l, P = exp2(S - m) rounded to bf16), then
// O = O alpha + P V with O in registers (each warp a fixed set of 16x16 output fragments).
template <int DK, int DV, int BM, int BN, int WARPS, bool VIN>
__global__ void __launch_bounds__(WARPS * 32) attention_kernel(KernelArgs a) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  __trap();  // bf16 tensor cores need sm_80
#else
  using T = Tile<DK, DV, BM, BN, WARPS, VIN>;
  extern __shared__ __align__(128) unsigned char smem[];
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* ks = reinterpret_cast<bf16*>(smem + T::kQBytes);
  bf16* vs = VIN ? ks : reinterpret_cast<bf16*>(smem + T::kQBytes + T::kKBytes);
  float* ss = reinterpret_cast<float*>(smem + T::kQBytes + T::kKBytes + T::kVBytes);
  bf16* ps = reinterpret_cast<bf16*>(smem + T::kQBytes + T::kKBytes + T::kVBytes + T::kSBytes);
  float* m_s = reinterpret_cast<float*>(smem + T::kQBytes + T::kKBytes + T::kVBytes + T::kSBytes + T::kPBytes);
  float* l_s = m_s + BM;
  float* alpha_s = l_s + BM;

  const int tid = static_cast<int>(threadIdx.x), warp = tid / 32, lane = tid % 32;
  // Causal: the latest (heaviest) row tiles start first. Otherwise a sequence's row tiles are
  // neighbours, so the blocks reading the same keys run together and share them through L2.
  const long long idx = blockIdx.x, per_tile = static_cast<long long>(a.splits) * a.bg_count;
  int rt = 0, sp = 0;
  long long bg = 0;
  if (a.causal) {
    rt = a.row_tiles - 1 - static_cast<int>(idx / per_tile);
    sp = static_cast<int>(idx % per_tile % a.splits);
    bg = idx % per_tile / a.splits;
  } else {
    rt = static_cast<int>(idx % a.row_tiles);
    sp = static_cast<int>(idx / a.row_tiles % a.splits);
    bg = idx / a.row_tiles / a.splits;
  }
  const int b = static_cast<int>(bg / a.kv_heads), g = static_cast<int>(bg % a.kv_heads);
  const int r0 = rt * BM;
  const int row_end = min(r0 + BM, a.rows);
  // Keys visible to the tile's latest row bound the tiles it visits (causal).
  const int key_limit = a.causal ? a.keys - a.queries + (row_end - 1) / a.group + 1 : a.keys;
  const int tile_begin = sp * a.tiles_per_split;
  const int n_tiles = max(0, min(tile_begin + a.tiles_per_split, (key_limit + BN - 1) / BN) - tile_begin);

  const long long k_step = static_cast<long long>(a.kv_heads) * a.k_row;
  const bf16* kb = a.k + b * a.k_stride + static_cast<long long>(g) * a.k_row;
  const long long v_step = VIN ? k_step : static_cast<long long>(a.kv_heads) * a.v_row;
  const bf16* vb = VIN ? kb : a.v + b * a.v_stride + static_cast<long long>(g) * a.v_row;

  // Keys [j0, j0 + BN) into stage `stage`; rows past the last key are zeros.
  const auto load_tile = [&](int tile, int stage) {
    const int j0 = (tile_begin + tile) * BN;
    bf16* kd = ks + stage * BN * T::kKStride;
    for (int c = tid; c < BN * (DK / 8); c += T::kThreads) {
      const int r = c / (DK / 8), col = c % (DK / 8) * 8;
      const bool ok = j0 + r < a.keys;
      cp_async16(kd + r * T::kKStride + col, ok ? kb + (j0 + r) * k_step + col : kb, ok);
    }
    if constexpr (!VIN) {
      bf16* vd = vs + stage * BN * T::kVStride;
      for (int c = tid; c < BN * (DV / 8); c += T::kThreads) {
        const int r = c / (DV / 8), col = c % (DV / 8) * 8;
        const bool ok = j0 + r < a.keys;
        cp_async16(vd + r * T::kVStride + col, ok ? vb + (j0 + r) * v_step + col : vb, ok);
      }
    }
  };
  if (n_tiles > 0) load_tile(0, 0);
  cp_async_commit();

  // Q rows (zeros past the last row): row R is query R / group, head g * group + R % group.
  for (int c = tid; c < BM * (DK / 8); c += T::kThreads) {
    const int r = c / (DK / 8), col = c % (DK / 8) * 8, row = r0 + r;
    uint4 val = make_uint4(0, 0, 0, 0);
    if (row < a.rows) {
      const long long i = row / a.group, h = static_cast<long long>(g) * a.group + row % a.group;
      val = *reinterpret_cast<const uint4*>(a.q + b * a.q_stride + (i * a.heads + h) * DK + col);
    }
    *reinterpret_cast<uint4*>(qs + r * T::kQStride + col) = val;
  }
  if (tid < BM) {
    m_s[tid] = -INFINITY;
    l_s[tid] = 0;
  }
  // The accumulator layout is opaque: load a tile whose entries are their row numbers to learn
  // which row each of this thread's elements holds (the rescale by a row's alpha needs it).
  for (int c = tid; c < 256; c += T::kThreads) ss[c / 16 * T::kSStride + c % 16] = static_cast<float>(c / 16);
  __syncthreads();
  int row_of[AccFrag::num_elements];
  {
    AccFrag rows;
    wmma::load_matrix_sync(rows, ss, T::kSStride, wmma::mem_row_major);
#pragma unroll
    for (int e = 0; e < AccFrag::num_elements; ++e) row_of[e] = static_cast<int>(rows.x[e]);
  }
  const int strip = warp / T::kWarpsPerStrip, col0 = warp % T::kWarpsPerStrip * T::kColTiles;
  AccFrag o[T::kColTiles];
#pragma unroll
  for (int f = 0; f < T::kColTiles; ++f) wmma::fill_fragment(o[f], 0.0f);

  for (int t = 0; t < n_tiles; ++t) {
    if (t + 1 < n_tiles) load_tile(t + 1, (t + 1) & 1);  // its stage was freed by the last barrier
    cp_async_commit();
    cp_async_wait<1>();  // tile t has landed
    __syncthreads();
    const bf16* kt = ks + (t & 1) * BN * T::kKStride;
    const bf16* vt = VIN ? kt : vs + (t & 1) * BN * T::kVStride;

    for (int st = warp; st < T::kStrips * (BN / 16); st += WARPS) {  // S = Q K^T
      const int sr = st / (BN / 16), sn = st % (BN / 16);
      AccFrag acc;
      wmma::fill_fragment(acc, 0.0f);
#pragma unroll 4
      for (int kk = 0; kk < DK / 16; ++kk) {
        AFrag qf;
        BColFrag kf;
        wmma::load_matrix_sync(qf, qs + sr * 16 * T::kQStride + kk * 16, T::kQStride);
        wmma::load_matrix_sync(kf, kt + sn * 16 * T::kKStride + kk * 16, T::kKStride);
        wmma::mma_sync(acc, qf, kf, acc);
      }
      wmma::store_matrix_sync(ss + sr * 16 * T::kSStride + sn * 16, acc, T::kSStride, wmma::mem_row_major);
    }
    __syncthreads();

    {  // online softmax of row r over this tile
      const int r = tid / T::kRowThreads, part = tid % T::kRowThreads;
      const int row = min(r0 + r, a.rows - 1);  // rows past the end copy the last (never written)
      const int limit = a.causal ? a.keys - a.queries + row / a.group + 1 : a.keys;
      const int j0 = (tile_begin + t) * BN;
      float* srow = ss + r * T::kSStride;
      float mx = -INFINITY;
      for (int c = part; c < BN; c += T::kRowThreads) {
        const float s = j0 + c < limit ? srow[c] * a.scale_log2 : -INFINITY;
        srow[c] = s;
        mx = fmaxf(mx, s);
      }
#pragma unroll
      for (int off = T::kRowThreads / 2; off > 0; off /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
      const float m_old = m_s[r], m_new = fmaxf(m_old, mx);
      const float base = m_new == -INFINITY ? 0.0f : m_new;  // a row that sees no key yet: p = 0, not NaN
      float sum = 0;
      for (int c = part; c < BN; c += T::kRowThreads) {
        const float p = exp2f(srow[c] - base);
        sum += p;
        ps[r * T::kPStride + c] = __float2bfloat16(p);
      }
#pragma unroll
      for (int off = T::kRowThreads / 2; off > 0; off /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, off);
      __syncwarp();  // every lane of the row has read m_s[r] before it changes
      if (part == 0) {
        const float alpha = exp2f(m_old - base);
        alpha_s[r] = alpha;
        l_s[r] = l_s[r] * alpha + sum;
        m_s[r] = m_new;
      }
    }
    __syncthreads();

#pragma unroll
    for (int f = 0; f < T::kColTiles; ++f)  // O = O alpha + P V
#pragma unroll
      for (int e = 0; e < AccFrag::num_elements; ++e) o[f].x[e] *= alpha_s[strip * 16 + row_of[e]];
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      AFrag pf;
      wmma::load_matrix_sync(pf, ps + strip * 16 * T::kPStride + kk * 16, T::kPStride);
#pragma unroll
      for (int f = 0; f < T::kColTiles; ++f) {
        BRowFrag vf;
        wmma::load_matrix_sync(vf, vt + kk * 16 * T::kVStride + (col0 + f) * 16, T::kVStride);
        wmma::mma_sync(o[f], pf, vf, o[f]);
      }
    }
    __syncthreads();  // the stage is free for the prefetch two tiles ahead
  }
  cp_async_wait<0>();
  __syncthreads();

  // Epilogue through a per-warp 16x16 scratch in the (now free) K stages: lane -> row lane / 2,
  // 8 columns. One split: O / l in bf16. Several: the unnormalised O and (m, l) for the combine.
  float* scratch = reinterpret_cast<float*>(ks) + warp * 16 * T::kScratchStride;
  const int er = strip * 16 + lane / 2, row = r0 + er, ec = lane % 2 * 8;
  const long long w = bg * a.rows + row;  // the row's index among all (sequence, KV head, row)
#pragma unroll
  for (int f = 0; f < T::kColTiles; ++f) {
    wmma::store_matrix_sync(scratch, o[f], T::kScratchStride, wmma::mem_row_major);
    __syncwarp();
    if (row < a.rows) {
      const int col = (col0 + f) * 16 + ec;
      float x[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) x[e] = scratch[lane / 2 * T::kScratchStride + ec + e];
      if (a.splits == 1) {
        const float inv = 1.0f / l_s[er];  // > 0: key 0 is visible to every row
#pragma unroll
        for (int e = 0; e < 8; ++e) x[e] *= inv;
        const long long i = row / a.group, h = static_cast<long long>(g) * a.group + row % a.group;
        *reinterpret_cast<uint4*>(a.out + b * a.out_stride + (i * a.heads + h) * DV + col) = pack_bf16x8(x);
      } else {
        float4* dst = reinterpret_cast<float4*>(a.part_acc + (w * a.splits + sp) * DV + col);
        dst[0] = make_float4(x[0], x[1], x[2], x[3]);
        dst[1] = make_float4(x[4], x[5], x[6], x[7]);
      }
    }
    __syncwarp();
  }
  if (a.splits > 1 && tid < BM && r0 + tid < a.rows) {
    float* ml = a.part_ml + ((bg * a.rows + r0 + tid) * a.splits + sp) * 2;
    ml[0] = m_s[tid];
    ml[1] = l_s[tid];
  }
#endif
}

using KernelFn = void (*)(KernelArgs);

struct Config {
  int dk, dv, bm, bn, warps;
  bool value_in_key;
  KernelFn kernel;
  std::size_t smem;
};

template <int DK, int DV, int BM, int BN, int WARPS, bool VIN>
Config config() {
  using T = Tile<DK, DV, BM, BN, WARPS, VIN>;
  Config c{DK, DV, BM, BN, WARPS, VIN, nullptr, T::kBytes};
  c.kernel = &attention_kernel<DK, DV, BM, BN, WARPS, VIN>;
  return c;
}

// The instantiations: a 16-row tile for decode's few rows per KV head (GQA groups of 1 to 16
// heads), 64 rows for prefill chunks; MLA absorbed 64 rows (half of its 128 heads) with 16 warps
// so that the latent is read from L2 by only two blocks and the 64 x 512 fp32 output fits in
// registers (64 per thread).
const Config& find_config(int dk, int dv, bool value_in_key, int rows) {
  static const Config configs[] = {
      config<128, 128, 16, 64, 4, false>(), config<128, 128, 64, 32, 4, false>(), config<64, 64, 16, 64, 4, false>(),
      config<64, 64, 64, 32, 4, false>(),   config<192, 128, 64, 32, 4, false>(), config<576, 512, 64, 32, 16, true>(),
  };
  const Config* best = nullptr;
  for (const Config& c : configs) {
    if (c.dk != dk || c.dv != dv || c.value_in_key != value_in_key) continue;
    // The smallest tile when every row fits in 16, else the largest.
    if (!best || (rows <= 16 ? c.bm < best->bm : c.bm > best->bm)) best = &c;
  }
  if (!best)
    throw Error("attention: no kernel for dk " + std::to_string(dk) + ", dv " + std::to_string(dv) +
                (value_in_key ? " with the value inside the key" : "") +
                " (kernels: 64/64, 128/128, 192/128, 576/512 with the value inside the key)");
  return *best;
}

void check_shape(const AttentionShape& s, int batch, bool value_in_key) {
  const int k_row = s.k_row > 0 ? s.k_row : s.dk, v_row = s.v_row > 0 ? s.v_row : s.dv;
  const bool ok = batch >= 1 && s.queries >= 1 && s.keys >= s.queries && s.heads >= 1 && s.kv_heads >= 1 &&
                  s.heads % s.kv_heads == 0 && k_row >= s.dk && k_row % 8 == 0 &&
                  (value_in_key ? s.dv <= s.dk && v_row == k_row : v_row >= s.dv && v_row % 8 == 0) &&
                  static_cast<long long>(s.queries) * (s.heads / s.kv_heads) <= INT_MAX && s.scale > 0;
  if (!ok)
    throw Error("attention: unsupported shape (batch " + std::to_string(batch) + ", queries " +
                std::to_string(s.queries) + ", keys " + std::to_string(s.keys) + ", heads " + std::to_string(s.heads) +
                "/" + std::to_string(s.kv_heads) + ", rows " + std::to_string(k_row) + "/" + std::to_string(v_row) +
                "; rows must be multiples of 8 elements, keys >= queries)");
}

}  // namespace

std::string AttentionPlan::describe() const {
  return std::to_string(rows_per_tile) + "x" + std::to_string(keys_per_tile) + " tiles, " + std::to_string(threads) +
         " threads, " + std::to_string((smem_bytes + 1023) / 1024) + " KB smem, " + std::to_string(blocks_per_sm) +
         " blocks/SM, " + std::to_string(splits) + (splits == 1 ? " split" : " splits");
}

AttentionPlan plan_attention(const AttentionShape& s, int batch, bool value_in_key) {
  check_shape(s, batch, value_in_key);
  const int rows = s.queries * (s.heads / s.kv_heads);
  const Config& c = find_config(s.dk, s.dv, value_in_key, rows);
  int device = 0, sms = 0, smem_optin = 0;
  MOESIM_CUDA_CHECK(cudaGetDevice(&device));
  MOESIM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  MOESIM_CUDA_CHECK(cudaDeviceGetAttribute(&smem_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  if (c.smem > static_cast<std::size_t>(smem_optin))
    throw Error("attention: the " + std::to_string(c.dk) + "/" + std::to_string(c.dv) + " kernel needs " +
                std::to_string(c.smem) + " bytes of shared memory per block, the device allows " +
                std::to_string(smem_optin));
  // Above 48 KB dynamic shared memory must be asked for.
  MOESIM_CUDA_CHECK(
      cudaFuncSetAttribute(c.kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(c.smem)));
  AttentionPlan p;
  p.rows_per_tile = c.bm;
  p.keys_per_tile = c.bn;
  p.threads = c.warps * 32;
  p.smem_bytes = c.smem;
  MOESIM_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&p.blocks_per_sm, c.kernel, p.threads, c.smem));
  if (p.blocks_per_sm < 1)
    throw Error("attention: the kernel cannot be resident on this device (" + p.describe() + ")");
  p.row_tiles = (rows + c.bm - 1) / c.bm;
  const int key_tiles = (s.keys + c.bn - 1) / c.bn;
  const long long blocks = static_cast<long long>(batch) * s.kv_heads * p.row_tiles;
  const SplitPlan split = plan_splits(blocks, key_tiles, static_cast<long long>(sms) * p.blocks_per_sm,
                                      std::max(1, kMinKeysPerSplit / c.bn));
  p.splits = split.splits;
  p.tiles_per_split = split.tiles_per_split;
  if (blocks * p.splits > INT_MAX) throw Error("attention: too many blocks (" + std::to_string(blocks) + ")");
  if (p.splits > 1) p.partial_floats = static_cast<std::size_t>(batch) * s.kv_heads * rows * p.splits * (s.dv + 2);
  return p;
}

void launch_attention(const AttentionPlan& plan, const AttentionShape& s, int batch, const AttentionTensors& t,
                      float* partials, cudaStream_t stream) {
  const bool value_in_key = t.v == nullptr;
  check_shape(s, batch, value_in_key);
  const int group = s.heads / s.kv_heads, rows = s.queries * group;
  const Config& c = find_config(s.dk, s.dv, value_in_key, rows);
  if (c.bm != plan.rows_per_tile || c.bn != plan.keys_per_tile || plan.row_tiles != (rows + c.bm - 1) / c.bm ||
      plan.splits < 1 || static_cast<long long>(plan.splits) * plan.tiles_per_split * c.bn < s.keys ||
      (plan.splits > 1 && partials == nullptr))
    throw Error("launch_attention: the plan was made for another shape (" + plan.describe() + ")");
  if (!t.q || !t.k || !t.out) throw Error("launch_attention: null tensor");
  const std::size_t per_split = static_cast<std::size_t>(batch) * s.kv_heads * rows * plan.splits;
  KernelArgs a{};
  a.q = reinterpret_cast<const bf16*>(t.q);
  a.k = reinterpret_cast<const bf16*>(t.k);
  a.v = reinterpret_cast<const bf16*>(t.v);
  a.out = reinterpret_cast<bf16*>(t.out);
  a.part_acc = partials;
  a.part_ml = partials ? partials + per_split * s.dv : nullptr;
  a.q_stride = t.q_stride;
  a.k_stride = t.k_stride;
  a.v_stride = t.v_stride;
  a.out_stride = t.out_stride;
  a.queries = s.queries;
  a.keys = s.keys;
  a.heads = s.heads;
  a.kv_heads = s.kv_heads;
  a.group = group;
  a.rows = rows;
  a.k_row = s.k_row > 0 ? s.k_row : s.dk;
  a.v_row = s.v_row > 0 ? s.v_row : s.dv;
  a.row_tiles = plan.row_tiles;
  a.splits = plan.splits;
  a.tiles_per_split = plan.tiles_per_split;
  a.bg_count = batch * s.kv_heads;
  a.scale_log2 = static_cast<float>(s.scale) * kLog2e;
  a.causal = s.causal ? 1 : 0;
  const long long blocks = static_cast<long long>(a.bg_count) * plan.row_tiles * plan.splits;
  c.kernel<<<static_cast<unsigned>(blocks), static_cast<unsigned>(plan.threads), c.smem, stream>>>(a);
  MOESIM_CUDA_LAUNCH_CHECK("attention_kernel");
  if (plan.splits == 1) return;
  CombineArgs m{};
  m.acc = a.part_acc;
  m.ml = a.part_ml;
  m.out = a.out;
  m.out_stride = t.out_stride;
  m.row_count = static_cast<long long>(a.bg_count) * rows;
  m.rows = rows;
  m.group = group;
  m.heads = s.heads;
  m.kv_heads = s.kv_heads;
  m.splits = plan.splits;
  m.dv = s.dv;
  launch_attention_combine(m, stream);
}

}  // namespace moesim::calib
