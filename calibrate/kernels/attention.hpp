#pragma once
// moesim's core-attention kernels, FlashAttention-2 style: bf16 in and out, fp32 scores, softmax
// and accumulation. A block's rows are (query token, query head) pairs that share one KV head
// (GQA groups, MLA's 128 heads on its one latent head); the keys stream through shared memory in
// tiles (cp.async, double-buffered), tensor cores (wmma bf16 16x16x16, fp32 accumulate) compute
// Q K^T and P V, and an online softmax keeps each row's running max and sum. When sequences x KV
// heads x row tiles cannot fill the GPU, the keys are split over several blocks (flash-decoding)
// and a combine kernel merges their partial (max, sum, accumulator). Assumption: the head dims of
// the presets (dk / dv 64 / 64, 128 / 128, 192 / 128, and 576 / 512 with the value inside the key);
// other shapes are refused.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "reference/reference_attention.hpp"

namespace moesim::calib {

// Device tensors of `batch` sequences (bf16 bit patterns), each sequence in attention_ref's
// layouts (q [queries][heads][dk], k / v rows (j * kv_heads + g) * row, out [queries][heads][dv]),
// sequence b at b x the tensor's stride (elements). v == nullptr: the value is the key's first dv
// elements (MLA absorbed: the latent is read once).
struct AttentionTensors {
  const std::uint16_t* q = nullptr;
  const std::uint16_t* k = nullptr;
  const std::uint16_t* v = nullptr;
  std::uint16_t* out = nullptr;
  std::int64_t q_stride = 0, k_stride = 0, v_stride = 0, out_stride = 0;
};

// How one shape runs on the current device.
struct AttentionPlan {
  int rows_per_tile = 0;  // (query, head) rows per block
  int keys_per_tile = 0;
  int threads = 0;
  std::size_t smem_bytes = 0;      // dynamic shared memory per block
  int blocks_per_sm = 0;           // resident blocks per SM at that shared memory
  int row_tiles = 0;               // per sequence and KV head
  int splits = 1;                  // key ranges per row tile (flash-decoding when > 1)
  int tiles_per_split = 0;         // key tiles per range
  std::size_t partial_floats = 0;  // workspace of the splits (0 when splits == 1)
  std::string describe() const;    // e.g. "64x32 tiles, 512 threads, 164 KB smem, 2 splits"
};

// Throws Error for a shape the kernels do not run (head dims, row widths, v layout) or that does
// not fit in the device's shared memory.
AttentionPlan plan_attention(const AttentionShape& s, int batch, bool value_in_key);
// Queues the attention of `batch` sequences (and the combine when plan.splits > 1); `partials`
// holds plan.partial_floats floats (may be null when 0).
void launch_attention(const AttentionPlan& plan, const AttentionShape& s, int batch, const AttentionTensors& t,
                      float* partials, cudaStream_t stream);

}  // namespace moesim::calib
