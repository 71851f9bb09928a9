// Attention shapes of the presets (held to their models/*.toml FLOPs and KV bytes), grid points,
// traffic and FLOPs in closed form, and the flash-decoding split rule.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/error.hpp"
#include "fit/measurements.hpp"
#include "io/scenario_loader.hpp"
#include "kernels/attention_config.hpp"

using namespace moesim::calib;

TEST_CASE("attention shapes: DeepSeek-V3 MLA absorbed in decode, expanded in prefill") {
  const AttentionModel m = attention_model("deepseek-v3");
  CHECK(m.form == "mla");
  CHECK(m.decode.heads == 128);
  CHECK(m.decode.kv_heads == 1);
  CHECK(m.decode.dk == 576);
  CHECK(m.decode.dv == 512);
  CHECK(m.decode.k_row == 576);
  CHECK(m.decode.v_row == 576);
  CHECK(m.decode_value_in_key);
  CHECK(m.decode.scale == Approx(1 / std::sqrt(192.0)));
  CHECK(m.prefill.heads == 128);
  CHECK(m.prefill.kv_heads == 128);
  CHECK(m.prefill.dk == 192);
  CHECK(m.prefill.dv == 128);
  CHECK(m.prefill.scale == m.decode.scale);
}

TEST_CASE("attention shapes: GQA presets") {
  const AttentionModel q = attention_model("qwen3-30b-a3b");
  CHECK(q.form == "gqa");
  CHECK(q.decode.heads == 32);
  CHECK(q.decode.kv_heads == 4);
  CHECK(q.decode.dk == 128);
  CHECK(q.decode.dv == 128);
  CHECK(q.decode.scale == Approx(1 / std::sqrt(128.0)));
  CHECK_FALSE(q.decode_value_in_key);
  const AttentionModel g = attention_model("gpt-oss-120b");
  CHECK(g.decode.heads == 64);
  CHECK(g.decode.kv_heads == 8);
  CHECK(g.decode.dk == 64);
  CHECK(g.prefill.scale == Approx(0.125));
  CHECK(attention_model("olmoe-1b-7b").decode.kv_heads == 16);  // MHA: one KV head per query head
  CHECK_THROWS_WITH(attention_model("llama-2"),
                    Catch::Contains("\"llama-2\"") && Catch::Contains("deepseek-v3") && Catch::Contains("dbrx"));
  CHECK_THROWS_AS(attention_model("llama-2"), moesim::InputError);
}

TEST_CASE("attention shapes agree with the presets' FLOPs and KV bytes per context token") {
  // attn_flops_per_ctx = 2 x heads x (dk + dv) (QK^T and PV per cached key); kv_bytes_per_token =
  // KV heads x (dk + dv) x 2 bytes, MLA absorbed: the 576-wide key alone (the value is inside it).
  for (const std::string& name : attention_model_names()) {
    INFO(name);
    const auto spec = moesim::io::find_model_preset(name);
    REQUIRE(spec);
    const AttentionModel m = attention_model(name);
    const AttentionPoint d = decode_point(m, 1, 0);
    const AttentionPoint p = prefill_point(m, 1, 0);
    CHECK(2.0 * d.shape.heads * (d.shape.dk + d.shape.dv) == spec->decode_attn_flops_per_ctx());
    CHECK(2.0 * p.shape.heads * (p.shape.dk + p.shape.dv) == spec->prefill_attn_flops_per_ctx());
    const double kv_elements = d.shape.kv_heads * (d.shape.dk + (d.value_in_key ? 0 : d.shape.dv));
    CHECK(2.0 * kv_elements == spec->kv_bytes_per_token);
    CHECK(d.shape.heads % d.shape.kv_heads == 0);
  }
}

TEST_CASE("attention grid points: decode sees its own key, prefill chunks are causal") {
  const AttentionModel m = attention_model("qwen3-30b-a3b");
  const AttentionPoint d = decode_point(m, 16, 2048);
  CHECK(d.phase == AttentionPhase::Decode);
  CHECK(d.batch == 16);
  CHECK(d.context == 2048);
  CHECK(d.shape.queries == 1);
  CHECK(d.shape.keys == 2049);
  CHECK_FALSE(d.shape.causal);
  const AttentionPoint p = prefill_point(m, 512, 8192);
  CHECK(p.phase == AttentionPhase::Prefill);
  CHECK(p.batch == 1);
  CHECK(p.shape.queries == 512);
  CHECK(p.shape.keys == 8704);
  CHECK(p.shape.causal);
  CHECK(std::string(attention_phase_name(p.phase)) == "prefill");
  CHECK_THROWS_AS(decode_point(m, 0, 10), moesim::InputError);
  CHECK_THROWS_AS(decode_point(m, 1, -1), moesim::InputError);
  CHECK_THROWS_AS(prefill_point(m, 0, 0), moesim::InputError);
}

TEST_CASE("attention pairs, FLOPs and bytes in closed form") {
  const AttentionModel q = attention_model("qwen3-30b-a3b");
  // Decode, batch 2, context 3: keys 4, one query each -> 4 pairs per head and sequence.
  const AttentionPoint d = decode_point(q, 2, 3);
  CHECK(attention_pairs(d.shape) == 4);
  // FLOPs: 2 x (128 + 128) x 32 heads x 4 pairs x 2 sequences = 131072.
  CHECK(attention_flops(d) == 131072);
  // Bytes per sequence: Q 32 x 128 = 4096, K and V 4 keys x 4 KV heads x 256 = 4096, out 4096
  // elements -> 12288 x 2 bytes x 2 sequences = 49152.
  CHECK(attention_bytes(d) == 49152);
  CHECK(attention_buffer_bytes(d) == 49152);  // the buffers hold exactly that
  const AttentionSizes z = attention_sizes(d);
  CHECK(z.q_seq == 4096);
  CHECK(z.k_seq == 2048);
  CHECK(z.v == 4096);
  CHECK(z.out == 8192);

  // Causal chunk of 3 after 2 cached: queries see 3, 4, 5 keys = 12 = 3 x 2 + 3 x 4 / 2.
  const AttentionPoint p = prefill_point(q, 3, 2);
  CHECK(attention_pairs(p.shape) == 12);
  CHECK(attention_flops(p) == 2.0 * 256 * 32 * 12);

  // MLA absorbed decode, batch 1, context 9: Q 128 x 576, K 10 x 576 (the value inside), out
  // 128 x 512 elements.
  const AttentionPoint m = decode_point(attention_model("deepseek-v3"), 1, 9);
  CHECK(attention_bytes(m) == 2.0 * (128 * 576 + 10 * 576 + 128 * 512));
  CHECK(attention_sizes(m).v == 0);
  CHECK(attention_flops(m) == 2.0 * 1088 * 128 * 10);
}

TEST_CASE("attention pairs match the measurement rows' visible pairs") {
  // Prefill: as the simulator counts (AttentionMeasurement::visible_pairs). Decode: the kernel also
  // reads the new token's own key, one pair per sequence more than the simulator's cached pairs.
  const AttentionModel m = attention_model("deepseek-v3");
  moesim::fit::AttentionMeasurement row;
  row.phase = "prefill";
  row.batch = 1;
  row.queries = 2048;
  row.context = 8192;
  CHECK(attention_pairs(prefill_point(m, 2048, 8192).shape) == row.visible_pairs());
  row.phase = "decode";
  row.batch = 64;
  row.queries = 1;
  row.context = 32768;
  const AttentionPoint d = decode_point(m, 64, 32768);
  CHECK(attention_pairs(d.shape) * d.batch == row.visible_pairs() + 64);
}

TEST_CASE("flash-decoding splits fill the GPU without ranges shorter than the minimum") {
  // Enough blocks: no split.
  CHECK(plan_splits(264, 100, 264, 4).splits == 1);
  CHECK(plan_splits(264, 100, 264, 4).tiles_per_split == 100);
  // 4 blocks for 264 slots want 66 splits; 513 key tiles allow 128 of at least 4: 66 splits of
  // ceil(513 / 66) = 8 tiles -> ceil(513 / 8) = 65 ranges (none empty).
  const SplitPlan a = plan_splits(4, 513, 264, 4);
  CHECK(a.tiles_per_split == 8);
  CHECK(a.splits == 65);
  // Few tiles: at most key_tiles / min_tiles ranges (9 / 4 = 2), here ranges of 5 and 4 tiles.
  const SplitPlan b = plan_splits(1, 9, 264, 4);
  CHECK(b.splits == 2);
  CHECK(b.tiles_per_split == 5);
  // Fewer tiles than the minimum: one range.
  CHECK(plan_splits(1, 3, 264, 4).splits == 1);
  CHECK_THROWS_AS(plan_splits(0, 3, 264, 4), moesim::Error);
}
