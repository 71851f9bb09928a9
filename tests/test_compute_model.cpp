// ComputeModel: closed-form roofline cases on a hand-made profile, tile quantisation, tables.
#include <catch2/catch.hpp>

#include <vector>

#include "core/error.hpp"
#include "gpu/compute_model.hpp"
#include "io/scenario_loader.hpp"

using moesim::ComputeModel;
using moesim::LogTable;
using moesim::ModelSpec;
using moesim::Profile;
using moesim::TimePs;
using moesim::WorkloadPhase;

namespace {

// 500 GB/s effective HBM, 200 / 400 TFLOP/s effective bf16 / fp8, 1 us launch, 128-token tiles.
Profile test_profile() {
  Profile p;
  p.meta.device = "test";
  p.meta.source = "derived";
  p.hbm_bandwidth = moesim::Bandwidth::from_GBps(1000);
  p.hbm_efficiency = 0.5;
  p.matrix_bf16_TFLOPs = 400;
  p.matrix_fp8_TFLOPs = 800;
  p.matrix_efficiency = 0.5;
  p.launch_ns = 1000;
  p.gemm_tile_m = 128;
  p.memory_GB = 80;
  return p;
}

// The same with HBM so fast that every phase is bound by its FLOPs.
Profile math_bound_profile() {
  Profile p = test_profile();
  p.hbm_bandwidth = moesim::Bandwidth::from_GBps(1e9);
  return p;
}

ModelSpec test_model() {
  ModelSpec m;
  m.name = "test";
  m.hidden = 1024;
  m.layers = 4;
  m.routed_experts = 8;
  m.top_k = 2;
  m.expert_ffn = 512;
  m.attn_params = 1e6;
  m.kv_bytes_per_token = 512;
  m.attn_flops_per_ctx = 4096;
  m.weight_bytes = 1;  // fp8: uses the fp8 rate
  m.dispatch_bytes = 1;
  m.combine_bytes = 2;
  return m;
}

constexpr TimePs kLaunchPs = 1'000'000;  // 1000 ns

}  // namespace

TEST_CASE("decode experts are bound by reading the active experts' weights", "[compute_model]") {
  const Profile p = test_profile();
  const ModelSpec m = test_model();
  REQUIRE_NOTHROW(m.validate("test"));
  const ComputeModel cm(p, m);
  // One expert, one token: weights 3 * 1024 * 512 * 1 B = 1,572,864; input + output
  // 1 * 1024 * (1 + 2) = 3,072; intermediate 2 * 1 * 512 * 2 = 2,048; total 1,577,984 B.
  // Memory: 1,577,984 B / 500 GB/s = 1,577,984e3 / 500 ps = 3,155,968 ps.
  // Math: 6 * 1024 * 512 * 128 (one tile) = 402,653,184 FLOPs / 400 FLOP/ps = 1,006,633 ps (< memory).
  // Time = launch 1,000,000 + 3,155,968 = 4,155,968 ps.
  const std::vector<int> one{1, 0, 0, 0};
  CHECK(cm.experts_ps(one) == kLaunchPs + 3'155'968);
  // Two active experts read twice the bytes, under one launch: 1,000,000 + 2 * 3,155,968.
  const std::vector<int> two{1, 1, 0, 0};
  CHECK(cm.experts_ps(two) == kLaunchPs + 2 * 3'155'968);
  const std::vector<int> four{1, 1, 1, 1};
  CHECK(cm.experts_ps(four) > cm.experts_ps(two));
  CHECK(cm.source(moesim::Phase::experts) == "roofline");
}

TEST_CASE("no tokens, no expert time", "[compute_model]") {
  const Profile p = test_profile();
  const ModelSpec m = test_model();
  const ComputeModel cm(p, m);
  const std::vector<int> idle{0, 0, 0};
  CHECK(cm.experts_ps(idle) == 0);
  CHECK(cm.experts_ps({}) == 0);
  CHECK(cm.gate_ps(0) == 0);
  CHECK(cm.combine_ps(0) == 0);
  CHECK(cm.shared_experts_ps(100) == 0);  // the model has no shared experts
  CHECK(cm.dense_ffn_ps(100) == 0);       // nor dense layers
  const std::vector<int> negative{-1};
  CHECK_THROWS_AS(cm.experts_ps(negative), moesim::Error);
}

TEST_CASE("tile quantisation: 1 and 128 tokens cost one tile, 129 cost two", "[compute_model]") {
  const Profile p = math_bound_profile();
  const ModelSpec m = test_model();
  const ComputeModel cm(p, m);
  // One tile: 6 * 1024 * 512 * 128 = 402,653,184 FLOPs / 400 FLOP/ps -> 1,006,633 ps (rounded up);
  // two tiles: 805,306,368 / 400 -> 2,013,266 ps. Memory at 5e8 GB/s is a few ps.
  const std::vector<int> t1{1}, t128{128}, t129{129};
  CHECK(cm.experts_ps(t1) == kLaunchPs + 1'006'633);
  CHECK(cm.experts_ps(t128) == cm.experts_ps(t1));
  CHECK(cm.experts_ps(t129) == kLaunchPs + 2'013'266);
}

TEST_CASE("bf16 weights use the bf16 rate", "[compute_model]") {
  const Profile p = math_bound_profile();
  ModelSpec m = test_model();
  m.weight_bytes = 2;
  const ComputeModel cm(p, m);
  // 402,653,184 FLOPs / 200 FLOP/ps = 2,013,266 ps (rounded up).
  const std::vector<int> t1{1};
  CHECK(cm.experts_ps(t1) == kLaunchPs + 2'013'266);
}

TEST_CASE("fp8 and fp4 GEMMs run at their own efficiencies, routed experts at the grouped one", "[compute_model]") {
  Profile p = math_bound_profile();
  p.matrix_fp8_efficiency = 0.75;   // dense fp8: 800 x 0.75 = 600 FLOP/ps
  p.grouped_fp8_efficiency = 0.25;  // routed experts: 800 x 0.25 = 200 FLOP/ps
  ModelSpec m = test_model();
  m.dense_ffn = 512;
  const std::vector<int> t1{1};
  {
    const ComputeModel cm(p, m);
    // One tile: 402,653,184 FLOPs / 200 FLOP/ps = 2,013,266 ps (rounded up).
    CHECK(cm.experts_ps(t1) == kLaunchPs + 2'013'266);
    // Dense FFN of 128 tokens: 6 * 1024 * 512 * 128 = 402,653,184 FLOPs / 600 -> 671,089 ps.
    CHECK(cm.dense_ffn_ps(128) == kLaunchPs + 671'089);
  }
  {
    p.grouped_fp8_efficiency = 0;  // absent: the dense fp8 efficiency
    const ComputeModel cm(p, m);
    CHECK(cm.experts_ps(t1) == kLaunchPs + 671'089);
  }
  {
    p.matrix_fp8_efficiency = 0;  // absent too: matrix_efficiency (0.5): 400 FLOP/ps
    const ComputeModel cm(p, m);
    CHECK(cm.experts_ps(t1) == kLaunchPs + 1'006'633);
  }
  {
    p.matrix_fp4_TFLOPs = 1600;  // fp4 weights at 1600 x 0.5 = 800 FLOP/ps; fp8 weights unaffected
    m.weight_bytes = 0.5;
    const ComputeModel fp4(p, m);
    CHECK(fp4.experts_ps(t1) == kLaunchPs + 503'317);
    m.weight_bytes = 1;
    const ComputeModel fp8(p, m);
    CHECK(fp8.experts_ps(t1) == kLaunchPs + 1'006'633);
  }
}

TEST_CASE("attention: decode reads the KV cache, prefill is causal FLOPs", "[compute_model]") {
  const ModelSpec m = test_model();
  {
    const Profile p = test_profile();
    const ComputeModel cm(p, m);
    // Decode, 4 tokens over 999 cached: weights 1e6 * 1 B + in/out 2 * 4 * 1024 * 2 = 16,384
    // + KV 4 * (999 + 1) * 512 = 2,048,000 -> 3,064,384 B / 500 GB/s = 6,128,768 ps.
    // Math: 2 * 1e6 * 4 / 400 = 20,000 ps + 4096 * 4 * 999 / 200 = 81,839 ps (< memory).
    CHECK(cm.attention_ps(4, WorkloadPhase::decode, 999) == kLaunchPs + 6'128'768);
    CHECK(cm.attention_ps(4, WorkloadPhase::decode, 1999) > cm.attention_ps(4, WorkloadPhase::decode, 999));
  }
  {
    const Profile p = math_bound_profile();
    const ComputeModel cm(p, m);
    // Prefill, 1024 tokens: projections 2 * 1e6 * 1024 = 2.048e9 FLOPs / 400 = 5,120,000 ps;
    // causal 4096 * 1024 * 1025 / 2 = 2,149,580,800 FLOPs / 200 = 10,747,904 ps.
    CHECK(cm.attention_ps(1024, WorkloadPhase::prefill, 0) == kLaunchPs + 5'120'000 + 10'747'904);
  }
}

TEST_CASE("combine and local copies are memory-bound", "[compute_model]") {
  const Profile p = test_profile();
  const ModelSpec m = test_model();
  const ComputeModel cm(p, m);
  // 16 copies: read 16 * 1024 * 2 = 32,768 B, write ceil(16 / top_k 2) = 8 tokens * 1024 * 2 =
  // 16,384 B; 49,152 B / 500 GB/s = 98,304 ps.
  CHECK(cm.combine_ps(16) == kLaunchPs + 98'304);
  // Read + write 1 MB at 500 GB/s: 2e6 * 1e3 / 500 = 4,000,000 ps, no launch.
  CHECK(cm.local_copy_ps(moesim::Bytes(1e6)) == 4'000'000);
  CHECK(cm.local_copy_ps(moesim::Bytes(0)) == 0);
}

TEST_CASE("measured tables override the roofline", "[compute_model]") {
  Profile p = test_profile();
  const ModelSpec m = test_model();
  const ComputeModel roof(p, m);
  CHECK(roof.source(moesim::Phase::gate) == "roofline");
  CHECK(roof.source(moesim::Phase::combine) == "roofline");
  const TimePs roofline_gate = roof.gate_ps(10);

  p.kernels_model = "test";
  p.kernels_us["gate_us"] = LogTable{{1, 100}, {10, 20}};
  p.kernels_us["permute_us"] = LogTable{{1}, {3}};
  p.kernels_us["combine_us"] = LogTable{{1, 10000}, {5, 45}};
  const ComputeModel cm(p, m);
  // gate_us at 10 tokens: halfway in log between 1 and 100 -> 15 us; permute constant 3 us.
  CHECK(cm.gate_ps(10) == 18'000'000);
  CHECK(cm.gate_ps(10) != roofline_gate);
  CHECK(cm.source(moesim::Phase::gate) == "profile");
  // combine_us at 100 copies: halfway in log between 1 and 10,000 -> 25 us.
  CHECK(cm.combine_ps(100) == 25'000'000);
  CHECK(cm.source(moesim::Phase::combine) == "profile");
  CHECK(cm.source(moesim::Phase::attention) == "roofline");
  CHECK_THROWS_AS(cm.source(moesim::Phase::dispatch), moesim::Error);  // a network phase has no kernel

  p.kernels_us.erase("permute_us");
  const ComputeModel half(p, m);
  CHECK(half.source(moesim::Phase::gate) == "profile+roofline");
}

TEST_CASE("a measured expert table replaces the grouped-GEMM roofline", "[compute_model]") {
  Profile p = test_profile();
  const ModelSpec m = test_model();  // fp8 weights (weight_bytes 1)
  const ComputeModel roof(p, m);
  const std::vector<int> load{1, 0, 100, 10000};
  const TimePs roofline = roof.experts_ps(load);

  p.kernels_model = "test";
  p.kernels_weight_bytes = 1;
  p.kernels_us["expert_us"] = LogTable{{1, 100}, {20, 40}};
  const ComputeModel cm(p, m);
  CHECK(cm.source(moesim::Phase::experts) == "profile");
  // Per active expert, no fixed cost in this profile: 1 token -> 20 us, 100 -> 40 us, 10,000 ->
  // 40 + 9,900 x 20/99 = 2,040 us (beyond the table: along its last segment); the idle expert
  // costs nothing.
  CHECK(cm.experts_ps(load) == 2'100'000'000);
  CHECK(cm.experts_ps(load) != roofline);
  const std::vector<int> idle{0, 0};
  CHECK(cm.experts_ps(idle) == 0);
  // 10 tokens: halfway in log between 1 and 100 -> 30 us.
  const std::vector<int> ten{10};
  CHECK(cm.experts_ps(ten) == 30'000'000);
  CHECK(cm.source(moesim::Phase::gate) == "roofline");  // no gate tables: plain roofline, no reason

  // Measured at another precision: the roofline, and the source says why.
  ModelSpec bf16 = m;
  bf16.weight_bytes = 2;
  const ComputeModel other_precision(p, bf16);
  CHECK(other_precision.source(moesim::Phase::experts) == "roofline (profile expert table is for 1-byte weights)");
  const Profile plain = test_profile();
  CHECK(other_precision.experts_ps(ten) == ComputeModel(plain, bf16).experts_ps(ten));
}

TEST_CASE("a grouped expert call pays its fixed cost once, only when an expert has tokens", "[compute_model]") {
  Profile p = test_profile();
  p.kernels_model = "test";
  p.kernels_weight_bytes = 1;
  p.kernels_us["expert_us"] = LogTable{{1, 100}, {20, 40}};
  p.kernels_expert_fixed_us = 7.5;
  const ModelSpec m = test_model();
  const ComputeModel cm(p, m);
  const std::vector<int> one{1}, three{1, 1, 1}, idle{0, 0, 0};
  CHECK(cm.experts_ps(one) == 27'500'000);
  CHECK(cm.experts_ps(three) == 67'500'000);  // 7.5 + 3 x 20: the fixed cost is not per expert
  CHECK(cm.experts_ps(idle) == 0);
}

TEST_CASE("per-call expert curves: the curve for as many experts as have tokens, log-interpolated", "[compute_model]") {
  Profile p = test_profile();
  p.kernels_model = "test";
  p.kernels_weight_bytes = 1;
  p.kernels_us["expert_us"] = LogTable{{1, 100}, {40, 80}};     // all 8 of the model's experts
  p.kernels_us["expert_e2_us"] = LogTable{{1, 100}, {10, 20}};  // 2 experts per call
  p.kernels_expert_fixed_us = 5;
  const ModelSpec m = test_model();  // 8 routed experts
  REQUIRE(m.routed_experts == 8);
  const ComputeModel cm(p, m);
  const std::vector<int> one{1}, two{1, 0, 1}, four{1, 1, 1, 1}, eight(8, 1), two_hundred{0, 100, 100};
  CHECK(cm.experts_ps(one) == 15'000'000);          // below the smallest curve: the e2 curve, 5 + 10
  CHECK(cm.experts_ps(two) == 25'000'000);          // 5 + 2 x 10
  CHECK(cm.experts_ps(four) == 105'000'000);        // halfway in log between 2 and 8: 25 per expert
  CHECK(cm.experts_ps(eight) == 325'000'000);       // 5 + 8 x 40
  CHECK(cm.experts_ps(two_hundred) == 45'000'000);  // e2 curve at 100 tokens: 5 + 2 x 20
  // A curve for another model's expert count is ignored with the rest of the tables.
  ModelSpec other = m;
  other.name = "other";
  CHECK(ComputeModel(p, other).source(moesim::Phase::experts).rfind("roofline", 0) == 0);
}

TEST_CASE("kernel tables are clamped below their range and extended along their last segment above",
          "[compute_model]") {
  Profile p = test_profile();
  p.kernels_model = "test";
  p.kernels_us["gate_us"] = LogTable{{4, 8, 16}, {10, 12, 20}};
  p.kernels_us["permute_us"] = LogTable{{100}, {5}};
  p.kernels_us["combine_us"] = LogTable{{8, 16}, {30, 30}};  // flat last segment stays flat
  const ModelSpec m = test_model();
  const ComputeModel cm(p, m);
  // 1 token: gate clamped to 10, permute (one point) clamped to 5.
  CHECK(cm.gate_ps(1) == 15'000'000);
  // 32 tokens: gate 20 + 16 x (8/8) = 36; permute still 5 (below its only point).
  CHECK(cm.gate_ps(32) == 41'000'000);
  // 400 tokens: gate 20 + 384 = 404; a one-point table has no slope: permute stays 5.
  CHECK(cm.gate_ps(400) == 409'000'000);
  CHECK(cm.combine_ps(1000) == 30'000'000);
}

TEST_CASE("tables measured for another model are not used", "[compute_model]") {
  Profile p = test_profile();
  p.kernels_model = "qwen3-30b-a3b";
  p.kernels_weight_bytes = 1;
  p.kernels_us["gate_us"] = LogTable{{1, 100}, {10, 20}};
  p.kernels_us["combine_us"] = LogTable{{1, 10000}, {5, 45}};
  p.kernels_us["expert_us"] = LogTable{{1, 100}, {20, 40}};
  const ModelSpec m = test_model();
  const ComputeModel cm(p, m);
  const Profile plain = test_profile();  // ComputeModel keeps a reference: no temporary
  const ComputeModel roof(plain, m);
  CHECK(cm.gate_ps(10) == roof.gate_ps(10));
  CHECK(cm.combine_ps(100) == roof.combine_ps(100));
  const std::vector<int> load{3, 0, 7};
  CHECK(cm.experts_ps(load) == roof.experts_ps(load));
  for (moesim::Phase phase : {moesim::Phase::gate, moesim::Phase::experts, moesim::Phase::combine}) {
    INFO(moesim::phase_name(phase));
    CHECK(cm.source(phase) == "roofline (profile tables are for qwen3-30b-a3b)");
  }
  CHECK(cm.source(moesim::Phase::attention) == "roofline");
}

TEST_CASE("presets on the shipped-like H100 numbers give sane decode times", "[compute_model]") {
  Profile p = test_profile();
  p.hbm_bandwidth = moesim::Bandwidth::from_GBps(3350);
  p.hbm_efficiency = 0.8;
  p.matrix_bf16_TFLOPs = 989;
  p.matrix_fp8_TFLOPs = 1979;
  p.matrix_efficiency = 0.7;
  p.launch_ns = 3000;
  const ModelSpec m = *moesim::io::find_model_preset("deepseek-v3");
  const ComputeModel cm(p, m);
  // 32 experts per GPU (EP8), 8 of them active with one token each: ~8 * 44 MB / 2680 GB/s
  // ~ 131 us + 3 us launch.
  std::vector<int> slots(32, 0);
  for (int i = 0; i < 8; ++i) slots[static_cast<std::size_t>(i)] = 1;
  const double us = moesim::us_from_ps(cm.experts_ps(slots));
  CHECK(us > 130.0);
  CHECK(us < 140.0);
  CHECK(cm.shared_experts_ps(64) > 0);
  CHECK(cm.dense_ffn_ps(64) > 0);
}

TEST_CASE("measured decode attention: curves by batch, interpolated linearly, proportional beyond", "[compute_model]") {
  Profile p = math_bound_profile();
  const ModelSpec m = test_model();
  const ComputeModel roof(p, m);
  p.kernels_model = "test";
  p.kernels_provenance.source = "measured";
  p.kernels_us["attn_decode_b1_us"] = LogTable{{100, 10000}, {10, 30}};
  p.kernels_us["attn_decode_b16_us"] = LogTable{{100, 10000}, {20, 100}};
  const ComputeModel cm(p, m);
  CHECK(cm.source(moesim::Phase::attention) == "measured decode core, roofline prefill core and projections");
  // The projections alone: launch + 2 x 1e6 x tokens FLOPs at the fp8 rate (400 TFLOP/s effective).
  const auto projections = [&](int tokens) {
    moesim::AttentionWork none;
    none.tokens = tokens;
    return cm.attention_ps(none);
  };
  CHECK(projections(4) == kLaunchPs + 20'000);
  // Linear in context along each curve, then in sequences between curves: at context 1000 the
  // 1-sequence curve gives 10 + 900 / 9900 x 20 us, the 16-sequence one 20 + 900 / 9900 x 80.
  const double b1 = 10 + 900.0 / 9900 * 20, b16 = 20 + 900.0 / 9900 * 80;
  const auto near = [](TimePs a, TimePs b) { return a >= b - 2 && a <= b + 2; };
  CHECK(near(cm.attention_ps(4, WorkloadPhase::decode, 1000), projections(4) + moesim::ps_from_us(0.8 * b1 + 0.2 * b16)));
  // 32 sequences: twice the 16-sequence curve; 1 sequence below the first curve is the first.
  CHECK(near(cm.attention_ps(32, WorkloadPhase::decode, 1000), projections(32) + moesim::ps_from_us(2 * b16)));
  CHECK(cm.attention_ps(1, WorkloadPhase::decode, 100) == projections(1) + 10'000'000);
  // A mix: the decode chunks' mean context; the prompt chunk's core stays at its roofline.
  moesim::AttentionWork w;
  w.add({1, 100, false});
  w.add({1, 10000, false});  // 2 sequences, mean context 5050
  const TimePs decode_only = cm.attention_ps(w);
  w.add({64, 0, true});
  const TimePs prefill_core = roof.attention_ps(64, WorkloadPhase::prefill, 0) - [&] {
    moesim::AttentionWork none;
    none.tokens = 64;
    return roof.attention_ps(none);
  }();
  CHECK(cm.attention_ps(w) == decode_only + projections(66) - projections(2) + prefill_core);
  // Another model's tables are not used.
  ModelSpec other = m;
  other.name = "other";
  const ComputeModel not_mine(p, other);
  CHECK(not_mine.attention_ps(4, WorkloadPhase::decode, 1000) == roof.attention_ps(4, WorkloadPhase::decode, 1000));
  CHECK(not_mine.source(moesim::Phase::attention) == "roofline");
}

TEST_CASE("measured prefill attention by visible pairs", "[compute_model]") {
  Profile p = math_bound_profile();
  const ModelSpec m = test_model();
  p.kernels_model = "test";
  p.kernels_us["attn_prefill_us"] = LogTable{{1000, 100000}, {50, 250}};
  p.kernels_us["attn_decode_b1_us"] = LogTable{{100, 10000}, {10, 30}};
  const ComputeModel cm(p, m);
  CHECK(cm.source(moesim::Phase::attention) == "profile core, roofline projections");
  moesim::AttentionWork none;
  none.tokens = 99;
  // A 99-token chunk after 0 cached: 99 x 100 / 2 = 4,950 pairs; the table is linear in pairs.
  const TimePs want = cm.attention_ps(none) + moesim::ps_from_us(50 + 3950.0 / 99000 * 200);
  CHECK(cm.attention_ps(99, WorkloadPhase::prefill, 0) >= want - 2);
  CHECK(cm.attention_ps(99, WorkloadPhase::prefill, 0) <= want + 2);
  // Beyond the table: along its last segment (compute-bound).
  none.tokens = 1000;
  CHECK(cm.attention_ps(1000, WorkloadPhase::prefill, 0) ==
        cm.attention_ps(none) + moesim::ps_from_us(250 + 200.0 / 99000 * (500500.0 - 100000.0)));
}

TEST_CASE("fp8 expert tables price fp8 models, the expert_us set the others", "[compute_model]") {
  Profile p = test_profile();
  ModelSpec m = test_model();  // fp8 weights
  p.kernels_model = "test";
  p.kernels_provenance.source = "measured";
  p.kernels_weight_bytes = 2;
  p.kernels_us["expert_us"] = LogTable{{1, 100}, {20, 40}};
  p.kernels_expert_fixed_us = 5;
  p.kernels_us["expert_fp8_us"] = LogTable{{1, 100}, {10, 20}};
  p.kernels_us["expert_fp8_e2_us"] = LogTable{{1, 100}, {8, 16}};
  p.kernels_expert_fp8_fixed_us = 3;
  for (const char* cls : {"nvlink", "scaleout"}) p.comm[cls] = {0, LogTable{{1}, {1}}, {}};
  REQUIRE_NOTHROW(p.validate("fp8 sets"));
  const ComputeModel fp8(p, m);
  CHECK(fp8.source(moesim::Phase::experts) == "measured (fp8)");
  const std::vector<int> all{1, 100, 1, 1, 1, 1, 1, 1};  // every expert busy: expert_fp8_us
  CHECK(fp8.experts_ps(all) == moesim::ps_from_us(3 + 20 + 7 * 10));
  const std::vector<int> two{1, 100, 0, 0, 0, 0, 0, 0};  // two busy: the 2-expert curve
  CHECK(fp8.experts_ps(two) == moesim::ps_from_us(3 + 8 + 16));
  m.weight_bytes = 2;
  const ComputeModel bf16(p, m);
  CHECK(bf16.source(moesim::Phase::experts) == "measured");
  CHECK(bf16.experts_ps(two) == moesim::ps_from_us(5 + 20 + 40));
  m.weight_bytes = 0.5;  // fp4: neither set
  const ComputeModel fp4(p, m);
  CHECK(fp4.source(moesim::Phase::experts) == "roofline (profile expert table is for 2-byte weights)");
  // Two fp8 sets are refused.
  p.kernels_weight_bytes = 1;
  CHECK_THROWS_WITH(p.validate("here"), Catch::Contains("both would be fp8"));
}
