#pragma once
// Device-side generation of the test inputs (host_values.hpp: the host can regenerate any
// element bit for bit) and a 16-byte-vector copy kernel for the copy-bandwidth ceiling.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace moesim::calib {

// dst[i] = bf16_test_value(seed, i, exp2): values n * 2^exp2, n uniform in [-64, 63].
void fill_bf16(std::uint16_t* dst, std::size_t n, std::uint64_t seed, int exp2, cudaStream_t stream);
// dst[i] = fp8_test_value(seed, i): e4m3 values n / 8, n uniform in [-8, 7].
void fill_fp8(std::uint8_t* dst, std::size_t n, std::uint64_t seed, cudaStream_t stream);
// dst[i] = word_test_value(seed, i).
void fill_words(std::uint32_t* dst, std::size_t n, std::uint64_t seed, cudaStream_t stream);
// All-to-all send buffer of `rank`: chunk p (count words) = word_test_value(alltoall_seed(rank, p), i)
// (alltoall_seed in host_values.hpp).
void fill_alltoall_send(std::uint32_t* dst, std::size_t count_per_peer, int ranks, int rank, cudaStream_t stream);
// dst = src, `bytes` a multiple of 16 and both 16-byte aligned (throws Error otherwise).
void copy_vec16(const void* src, void* dst, std::size_t bytes, cudaStream_t stream);

// Blocks for a grid-stride loop over `items`: enough to fill every SM several times over.
unsigned grid_for(std::size_t items, unsigned block);

}  // namespace moesim::calib
