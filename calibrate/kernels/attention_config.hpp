#pragma once
// The core-attention shapes the calibrator times, per model preset, with their traffic and FLOPs:
// one GPU runs every head of a layer (data-parallel attention) over a bf16 KV cache. Assumption:
// DeepSeek-V3 decodes with MLA absorbed (one 576-wide latent + rope KV head) and prefills with MLA
// expanded (128 heads of 192 / 128), as its serving stacks do; the other presets are GQA with the
// heads and head_dim of their official configs (models/*.toml). Plain C++, tested on the CPU.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "reference/reference_attention.hpp"

namespace moesim::calib {

enum class AttentionPhase { Decode, Prefill };
const char* attention_phase_name(AttentionPhase p);  // "decode" | "prefill"

// The attention of one model: its form and the per-sequence shapes of its two phases (queries and
// keys are set per grid point).
struct AttentionModel {
  std::string model;
  std::string form;                  // "gqa" | "mla" (the model's attention; the shape says which MLA form)
  AttentionShape decode;             // MLA: absorbed
  AttentionShape prefill;            // MLA: expanded
  bool decode_value_in_key = false;  // MLA absorbed: the value is the key's first dv elements
};
// Throws InputError naming the model and the known ones when there are no shapes for it.
AttentionModel attention_model(const std::string& model);
std::vector<std::string> attention_model_names();

// One grid point: `batch` sequences of one shape, each tensor one buffer with a fixed stride per
// sequence (all sequences share the context length).
struct AttentionPoint {
  AttentionPhase phase = AttentionPhase::Decode;
  int batch = 1;
  int context = 0;            // tokens cached before the new ones, per sequence
  AttentionShape shape;       // one sequence: queries new tokens, keys = context + queries
  bool value_in_key = false;  // v is read from k (no v buffer)
};
// Decode: `batch` sequences of one new token after `context` cached; keys = context + 1 (the new
// token's own key is in the cache when attention runs), every key visible.
AttentionPoint decode_point(const AttentionModel& m, int batch, int context);
// Prefill: one sequence, a chunk of `chunk` tokens after `context` cached, causal.
AttentionPoint prefill_point(const AttentionModel& m, int chunk, int context);

// Visible (query, key) pairs per query head of one sequence: queries x keys, or for a causal
// chunk sum over i of (keys - queries + i + 1), query i's own key included.
double attention_pairs(const AttentionShape& s);
// 2 x (dk + dv) per visible (query head, key) pair, over all heads and sequences.
double attention_flops(const AttentionPoint& p);

// Elements of each device tensor (v 0 when the value is inside the key).
struct AttentionSizes {
  std::size_t q = 0, k = 0, v = 0, out = 0;
  std::size_t q_seq = 0, k_seq = 0, v_seq = 0, out_seq = 0;  // per-sequence strides
};
AttentionSizes attention_sizes(const AttentionPoint& p);
// The kernel's minimum traffic: Q read, every K (and V) row read once per sequence and KV head
// (MLA absorbed: the 576-wide key once, its value inside it), the output written; bf16 throughout.
double attention_bytes(const AttentionPoint& p);
// Device bytes of the four tensors.
double attention_buffer_bytes(const AttentionPoint& p);

// Flash-decoding split of the keys. `blocks` = sequences x KV heads x row tiles; when it is below
// `target_blocks` (the blocks the GPU holds at once) the key tiles are split into ranges so that
// blocks x splits reaches the target, each range at least `min_tiles` tiles (the combine's extra
// pass must stay small next to the work it parallelises). Ranges are equal but the last.
struct SplitPlan {
  int splits = 1;
  int tiles_per_split = 0;
};
SplitPlan plan_splits(std::int64_t blocks, int key_tiles, std::int64_t target_blocks, int min_tiles);

// Seeds and scales of the test inputs (host_values.hpp): keys and values n / 64, queries n / 8, so
// the scaled scores spread by about 2.7 (GQA, MLA expanded) to 4.6 (MLA absorbed) and the softmax
// is far from uniform (a wrong key, scale or mask changes the output, not only its noise). Every
// product q k is a multiple of 2^-9 below 2^3 in magnitude, so dot products of up to 2^12 terms
// are exact in fp32.
struct AttentionSeeds {
  static std::uint64_t q(std::uint64_t s) { return s * 16 + 9; }
  static std::uint64_t k(std::uint64_t s) { return s * 16 + 10; }
  static std::uint64_t v(std::uint64_t s) { return s * 16 + 11; }
  static constexpr int kQExp2 = -3;
  static constexpr int kKvExp2 = -6;
};

}  // namespace moesim::calib
