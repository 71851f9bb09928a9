// Permute kernels (see permute.hpp).
#include "kernels/permute.hpp"

#include <cub/block/block_scan.cuh>

#include <string>

#include "bench/cuda_check.hpp"
#include "kernels/fill.hpp"

namespace moesim::calib {

namespace {

constexpr int kBlock = 256;
constexpr int kWarps = kBlock / 32;
constexpr int kScanItems = 4;  // experts <= kBlock * kScanItems = 1024

// Per-block shared-memory histogram, then global counts; the last block to finish scans them.
__global__ void __launch_bounds__(kBlock)
    histogram_scan_kernel(const std::int32_t* __restrict__ ids, int n, int experts, int* counts, int* offsets,
                          unsigned* done) {
  extern __shared__ int hist[];
  for (int i = threadIdx.x; i < experts; i += kBlock) hist[i] = 0;
  __syncthreads();
  for (int a = blockIdx.x * kBlock + threadIdx.x; a < n; a += gridDim.x * kBlock) atomicAdd(&hist[ids[a]], 1);
  __syncthreads();
  for (int i = threadIdx.x; i < experts; i += kBlock)
    if (hist[i]) atomicAdd(&counts[i], hist[i]);
  __threadfence();
  __syncthreads();
  __shared__ bool last;
  if (threadIdx.x == 0) last = atomicAdd(done, 1u) == gridDim.x - 1;
  __syncthreads();
  if (!last) return;
  __threadfence();
  using Scan = cub::BlockScan<int, kBlock>;
  __shared__ typename Scan::TempStorage scan_tmp;
  int items[kScanItems], excl[kScanItems];
#pragma unroll
  for (int j = 0; j < kScanItems; ++j) {
    const int e = threadIdx.x * kScanItems + j;
    items[j] = e < experts ? __ldcg(counts + e) : 0;
  }
  int total = 0;
  Scan(scan_tmp).ExclusiveSum(items, excl, total);
#pragma unroll
  for (int j = 0; j < kScanItems; ++j) {
    const int e = threadIdx.x * kScanItems + j;
    if (e < experts) offsets[e] = excl[j];
  }
  if (threadIdx.x == 0) offsets[experts] = total;
}

// One warp per token: lanes < top_k reserve the rows, then the warp streams the row out k times.
__global__ void __launch_bounds__(kBlock)
    scatter_kernel(const uint4* __restrict__ x, const std::int32_t* __restrict__ ids, const int* __restrict__ offsets,
                   int* cursor, int tokens, int top_k, int row_vec, uint4* __restrict__ x_perm,
                   std::int32_t* __restrict__ perm_row) {
  __shared__ int rows[kWarps][32];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  for (int t = blockIdx.x * kWarps + w; t < tokens; t += gridDim.x * kWarps) {
    if (lane < top_k) {
      const std::size_t a = static_cast<std::size_t>(t) * top_k + lane;
      const int e = ids[a];
      const int row = offsets[e] + atomicAdd(&cursor[e], 1);
      perm_row[a] = row;
      rows[w][lane] = row;
    }
    __syncwarp();
    const uint4* src = x + static_cast<std::size_t>(t) * row_vec;
    int c = lane;
    for (; c + 32 < row_vec; c += 64) {
      const uint4 v0 = src[c], v1 = src[c + 32];
      for (int j = 0; j < top_k; ++j) {
        uint4* dst = x_perm + static_cast<std::size_t>(rows[w][j]) * row_vec;
        dst[c] = v0;
        dst[c + 32] = v1;
      }
    }
    if (c < row_vec) {
      const uint4 v0 = src[c];
      for (int j = 0; j < top_k; ++j) x_perm[static_cast<std::size_t>(rows[w][j]) * row_vec + c] = v0;
    }
    __syncwarp();
  }
}

}  // namespace

void launch_permute(const std::uint16_t* x, const std::int32_t* ids, int tokens, int hidden, int top_k, int experts,
                    int* scratch, int* offsets, std::int32_t* perm_row, std::uint16_t* x_perm, cudaStream_t stream) {
  if (hidden % 8 != 0 || experts < 1 || experts > kBlock * kScanItems || top_k < 1 || top_k > 32 || tokens < 0)
    throw Error("launch_permute: needs hidden % 8 == 0, 1 <= experts <= 1024, 1 <= top_k <= 32 (hidden " +
                std::to_string(hidden) + ", experts " + std::to_string(experts) + ", top_k " + std::to_string(top_k) +
                ")");
  const int n = tokens * top_k;
  if (n == 0) {
    MOESIM_CUDA_CHECK(cudaMemsetAsync(offsets, 0, sizeof(int) * (experts + 1), stream));
    return;
  }
  int* counts = scratch;
  int* cursor = scratch + experts;
  unsigned* done = reinterpret_cast<unsigned*>(scratch + 2 * experts);
  MOESIM_CUDA_CHECK(cudaMemsetAsync(scratch, 0, sizeof(int) * permute_scratch_ints(experts), stream));
  // Each histogram block covers >= 2048 ids, so the global atomics stay few.
  const unsigned hist_grid = grid_for((static_cast<std::size_t>(n) + 2047) / 2048 * kBlock, kBlock);
  histogram_scan_kernel<<<hist_grid, kBlock, sizeof(int) * experts, stream>>>(ids, n, experts, counts, offsets, done);
  MOESIM_CUDA_LAUNCH_CHECK("histogram_scan_kernel");
  const unsigned grid = grid_for(static_cast<std::size_t>(tokens) * 32, kBlock);
  scatter_kernel<<<grid, kBlock, 0, stream>>>(reinterpret_cast<const uint4*>(x), ids, offsets, cursor, tokens, top_k,
                                              hidden / 8, reinterpret_cast<uint4*>(x_perm), perm_row);
  MOESIM_CUDA_LAUNCH_CHECK("scatter_kernel");
}

}  // namespace moesim::calib
