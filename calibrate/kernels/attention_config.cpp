// Attention shapes, traffic and FLOPs of the model presets (see attention_config.hpp).
#include "kernels/attention_config.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace moesim::calib {

namespace {

// heads / kv_heads / head_dim from each model's config.json (quoted in models/<name>.toml).
struct GqaPreset {
  const char* model;
  int heads, kv_heads, head_dim;
};
constexpr GqaPreset kGqaPresets[] = {
    {"qwen3-30b-a3b", 32, 4, 128}, {"qwen3-235b-a22b", 64, 4, 128},
    {"mixtral-8x7b", 32, 8, 128},  {"olmoe-1b-7b", 16, 16, 128},
    {"dbrx", 48, 8, 128},          {"gpt-oss-120b", 64, 8, 64},
};

AttentionShape gqa_shape(const GqaPreset& p) {
  return {.heads = p.heads,
          .kv_heads = p.kv_heads,
          .dk = p.head_dim,
          .dv = p.head_dim,
          .scale = 1 / std::sqrt(static_cast<double>(p.head_dim))};
}

void check_positive(int value, const char* what, int min) {
  if (value < min) throw InputError(fmt::format("attention: {} must be at least {} (got {})", what, min, value));
}

}  // namespace

const char* attention_phase_name(AttentionPhase p) { return p == AttentionPhase::Decode ? "decode" : "prefill"; }

std::vector<std::string> attention_model_names() {
  std::vector<std::string> names{"deepseek-v3"};
  for (const GqaPreset& p : kGqaPresets) names.emplace_back(p.model);
  return names;
}

AttentionModel attention_model(const std::string& model) {
  AttentionModel m;
  m.model = model;
  if (model == "deepseek-v3") {
    // config.json: num_attention_heads 128, kv_lora_rank 512, qk_rope_head_dim 64,
    // qk_nope_head_dim 128, v_head_dim 128. The softmax scale is 1 / sqrt(128 + 64) in both forms
    // (absorbing the up-projections into q and the output changes the dot products' width, not
    // their values).
    const double scale = 1 / std::sqrt(192.0);
    m.form = "mla";
    m.decode = {.heads = 128, .kv_heads = 1, .dk = 576, .dv = 512, .k_row = 576, .v_row = 576, .scale = scale};
    m.decode_value_in_key = true;
    m.prefill = {.heads = 128, .kv_heads = 128, .dk = 192, .dv = 128, .scale = scale};
    return m;
  }
  for (const GqaPreset& p : kGqaPresets) {
    if (model != p.model) continue;
    m.form = "gqa";
    m.decode = m.prefill = gqa_shape(p);
    return m;
  }
  throw InputError(fmt::format("attention: no attention shapes for model \"{}\" (known: {})", model,
                               fmt::join(attention_model_names(), ", ")));
}

AttentionPoint decode_point(const AttentionModel& m, int batch, int context) {
  check_positive(batch, "the decode batch", 1);
  check_positive(context, "the decode context", 0);
  AttentionPoint p;
  p.phase = AttentionPhase::Decode;
  p.batch = batch;
  p.context = context;
  p.shape = m.decode;
  p.shape.queries = 1;
  p.shape.keys = context + 1;
  p.shape.causal = false;
  p.value_in_key = m.decode_value_in_key;
  return p;
}

AttentionPoint prefill_point(const AttentionModel& m, int chunk, int context) {
  check_positive(chunk, "the prefill chunk", 1);
  check_positive(context, "the prefill context", 0);
  AttentionPoint p;
  p.phase = AttentionPhase::Prefill;
  p.batch = 1;
  p.context = context;
  p.shape = m.prefill;
  p.shape.queries = chunk;
  p.shape.keys = context + chunk;
  p.shape.causal = true;
  p.value_in_key = false;
  return p;
}

double attention_pairs(const AttentionShape& s) {
  const double n = s.queries, keys = s.keys;
  return s.causal ? n * (keys - n) + n * (n + 1) / 2 : n * keys;
}

double attention_flops(const AttentionPoint& p) {
  const AttentionShape& s = p.shape;
  return 2.0 * (s.dk + s.dv) * s.heads * attention_pairs(s) * p.batch;
}

AttentionSizes attention_sizes(const AttentionPoint& p) {
  const AttentionShape& s = p.shape;
  const auto n = [](std::int64_t a, std::int64_t b, std::int64_t c) { return static_cast<std::size_t>(a * b * c); };
  AttentionSizes z;
  z.q_seq = n(s.queries, s.heads, s.dk);
  z.k_seq = n(s.keys, s.kv_heads, s.k_row > 0 ? s.k_row : s.dk);
  z.v_seq = p.value_in_key ? 0 : n(s.keys, s.kv_heads, s.v_row > 0 ? s.v_row : s.dv);
  z.out_seq = n(s.queries, s.heads, s.dv);
  const auto b = static_cast<std::size_t>(p.batch);
  z.q = z.q_seq * b;
  z.k = z.k_seq * b;
  z.v = z.v_seq * b;
  z.out = z.out_seq * b;
  return z;
}

double attention_bytes(const AttentionPoint& p) {
  const AttentionShape& s = p.shape;
  const double kv_row = s.dk + (p.value_in_key ? 0 : s.dv);  // elements read per key and KV head
  const double per_seq = static_cast<double>(s.queries) * s.heads * s.dk +
                         static_cast<double>(s.keys) * s.kv_heads * kv_row +
                         static_cast<double>(s.queries) * s.heads * s.dv;
  return 2.0 * per_seq * p.batch;
}

double attention_buffer_bytes(const AttentionPoint& p) {
  const AttentionSizes z = attention_sizes(p);
  return 2.0 * static_cast<double>(z.q + z.k + z.v + z.out);
}

SplitPlan plan_splits(std::int64_t blocks, int key_tiles, std::int64_t target_blocks, int min_tiles) {
  if (blocks < 1 || key_tiles < 1 || min_tiles < 1)
    throw Error(fmt::format("plan_splits: blocks {}, key tiles {}, min tiles {} must be positive", blocks, key_tiles,
                            min_tiles));
  SplitPlan plan{1, key_tiles};
  if (blocks >= target_blocks) return plan;
  const std::int64_t wanted = (target_blocks + blocks - 1) / blocks;
  const std::int64_t most = std::max(1, key_tiles / min_tiles);
  const int splits = static_cast<int>(std::min(wanted, most));
  plan.tiles_per_split = (key_tiles + splits - 1) / splits;
  plan.splits = (key_tiles + plan.tiles_per_split - 1) / plan.tiles_per_split;  // no empty range
  return plan;
}

}  // namespace moesim::calib
