#pragma once
// Building blocks of the attention kernels (attention.cu) and their split combine
// (attention_combine.cu): shared-memory tile layouts, wmma fragment types, asynchronous copies and
// bf16 packing. Assumption: sm_80 or newer (cp.async, bf16 wmma); compiled by nvcc only.
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>
#include <mma.h>

#include <cstddef>

namespace moesim::calib::attention_detail {

namespace wmma = nvcuda::wmma;
using bf16 = __nv_bfloat16;

// Shared-memory layout and work split of one instantiation. Row strides are padded by 16 bytes
// against bank conflicts; every region and 16-row block stays 32-byte aligned, as wmma needs.
template <int DK, int DV, int BM, int BN, int WARPS, bool VIN>
struct Tile {
  static constexpr int kThreads = WARPS * 32;
  static constexpr int kQStride = DK + 8;  // bf16 elements
  static constexpr int kKStride = DK + 8;
  static constexpr int kVStride = VIN ? kKStride : DV + 8;
  static constexpr int kSStride = BN + 4;  // floats
  static constexpr int kPStride = BN + 8;  // bf16
  static constexpr int kStrips = BM / 16;  // 16-row strips; each warp owns output columns of one
  static constexpr int kWarpsPerStrip = WARPS / kStrips;
  static constexpr int kColTiles = DV / 16 / kWarpsPerStrip;  // 16x16 output fragments per warp
  static constexpr int kRowThreads = kThreads / BM;           // softmax threads per row
  static constexpr int kScratchStride = 20;                   // floats: a warp's 16x16 epilogue tile
  static constexpr std::size_t kQBytes = std::size_t{BM} * kQStride * 2;
  static constexpr std::size_t kKBytes = 2 * std::size_t{BN} * kKStride * 2;  // two stages
  static constexpr std::size_t kVBytes = VIN ? 0 : 2 * std::size_t{BN} * kVStride * 2;
  static constexpr std::size_t kSBytes = std::size_t{BM} * kSStride * 4;
  static constexpr std::size_t kPBytes = std::size_t{BM} * kPStride * 2;
  static constexpr std::size_t kStatBytes = 3 * std::size_t{BM} * 4;  // max, sum, rescale per row
  static constexpr std::size_t kBytes = kQBytes + kKBytes + kVBytes + kSBytes + kPBytes + kStatBytes;
  static_assert(DK % 16 == 0 && DV % 16 == 0 && BM % 16 == 0 && BN % 16 == 0, "16x16x16 fragments");
  static_assert(WARPS % kStrips == 0 && (DV / 16) % kWarpsPerStrip == 0, "warps split the output evenly");
  static_assert(kThreads % BM == 0 && kRowThreads <= 32 && (kRowThreads & (kRowThreads - 1)) == 0,
                "a row's softmax threads are adjacent lanes of one warp");
  static_assert(!VIN || DV <= DK, "the value is a prefix of the key");
  static_assert(kKBytes >= std::size_t{WARPS} * 16 * kScratchStride * 4, "epilogue scratch fits in the K stages");
};

using AFrag = wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major>;
using BColFrag = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major>;
using BRowFrag = wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major>;
using AccFrag = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

// 16 bytes global -> shared without staging in registers; `valid` false writes zeros (keys past
// the end: their values must be finite, as 0 x NaN would poison the P V product).
__device__ __forceinline__ void cp_async16(void* dst, const void* src, bool valid) {
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ uint4 pack_bf16x8(const float* x) {
  uint4 u;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&u);
#pragma unroll
  for (int e = 0; e < 4; ++e) h[e] = __floats2bfloat162_rn(x[2 * e], x[2 * e + 1]);
  return u;
}

// The split-KV merge: one output row per warp from the splits' partial (max, sum, accumulator).
struct CombineArgs {
  const float* acc;
  const float* ml;
  bf16* out;
  long long out_stride, row_count;  // row_count = sequences x KV heads x rows
  int rows, group, heads, kv_heads, splits, dv;
};

void launch_attention_combine(const CombineArgs& c, cudaStream_t stream);

}  // namespace moesim::calib::attention_detail
