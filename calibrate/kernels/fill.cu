// Test-input generation and the vector copy kernel (see fill.hpp).
#include "kernels/fill.hpp"

#include "bench/cuda_check.hpp"
#include "reference/host_values.hpp"

namespace moesim::calib {

namespace {

constexpr unsigned kBlock = 256;

__global__ void fill_bf16_kernel(std::uint16_t* dst, std::size_t n, std::uint64_t seed, int exp2) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x)
    dst[i] = bf16_test_value(seed, i, exp2);
}

__global__ void fill_fp8_kernel(std::uint8_t* dst, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x)
    dst[i] = fp8_test_value(seed, i);
}

__global__ void fill_words_kernel(std::uint32_t* dst, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x)
    dst[i] = word_test_value(seed, i);
}

__global__ void fill_alltoall_kernel(std::uint32_t* dst, std::size_t count, int ranks, int rank) {
  const std::size_t n = count * static_cast<std::size_t>(ranks);
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x) {
    const int peer = static_cast<int>(i / count);
    dst[i] = word_test_value(alltoall_seed(rank, peer), i % count);
  }
}

__global__ void copy_vec16_kernel(const uint4* __restrict__ src, uint4* __restrict__ dst, std::size_t n) {
  // Four independent 16-byte loads in flight per thread before the stores.
  const std::size_t stride = std::size_t{gridDim.x} * blockDim.x;
  std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x;
  for (; i + 3 * stride < n; i += 4 * stride) {
    const uint4 a = src[i], b = src[i + stride], c = src[i + 2 * stride], d = src[i + 3 * stride];
    dst[i] = a;
    dst[i + stride] = b;
    dst[i + 2 * stride] = c;
    dst[i + 3 * stride] = d;
  }
  for (; i < n; i += stride) dst[i] = src[i];
}

}  // namespace

unsigned grid_for(std::size_t items, unsigned block) {
  int device = 0, sms = 0;
  MOESIM_CUDA_CHECK(cudaGetDevice(&device));
  MOESIM_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  const std::size_t wanted = (items + block - 1) / block;
  const std::size_t cap = static_cast<std::size_t>(sms) * 16;  // 16 blocks of `block` threads per SM
  return static_cast<unsigned>(wanted < 1 ? 1 : (wanted < cap ? wanted : cap));
}

void fill_bf16(std::uint16_t* dst, std::size_t n, std::uint64_t seed, int exp2, cudaStream_t stream) {
  if (n == 0) return;
  fill_bf16_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(dst, n, seed, exp2);
  MOESIM_CUDA_LAUNCH_CHECK("fill_bf16_kernel");
}

void fill_fp8(std::uint8_t* dst, std::size_t n, std::uint64_t seed, cudaStream_t stream) {
  if (n == 0) return;
  fill_fp8_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(dst, n, seed);
  MOESIM_CUDA_LAUNCH_CHECK("fill_fp8_kernel");
}

void fill_words(std::uint32_t* dst, std::size_t n, std::uint64_t seed, cudaStream_t stream) {
  if (n == 0) return;
  fill_words_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(dst, n, seed);
  MOESIM_CUDA_LAUNCH_CHECK("fill_words_kernel");
}

void fill_alltoall_send(std::uint32_t* dst, std::size_t count_per_peer, int ranks, int rank, cudaStream_t stream) {
  const std::size_t n = count_per_peer * static_cast<std::size_t>(ranks);
  if (n == 0) return;
  fill_alltoall_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(dst, count_per_peer, ranks, rank);
  MOESIM_CUDA_LAUNCH_CHECK("fill_alltoall_kernel");
}

void copy_vec16(const void* src, void* dst, std::size_t bytes, cudaStream_t stream) {
  if (bytes % 16 != 0 || reinterpret_cast<std::uintptr_t>(src) % 16 != 0 ||
      reinterpret_cast<std::uintptr_t>(dst) % 16 != 0)
    throw Error("copy_vec16: size and both pointers must be multiples of 16 bytes");
  const std::size_t n = bytes / 16;
  if (n == 0) return;
  copy_vec16_kernel<<<grid_for(n, kBlock), kBlock, 0, stream>>>(static_cast<const uint4*>(src),
                                                                static_cast<uint4*>(dst), n);
  MOESIM_CUDA_LAUNCH_CHECK("copy_vec16_kernel");
}

}  // namespace moesim::calib
