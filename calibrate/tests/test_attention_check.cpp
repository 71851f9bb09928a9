// The attention check: measured core attention rows beside the profile's tables, split into the
// points the tables were fitted at and the ones they interpolate.
#include <catch2/catch.hpp>

#include "cli/attention_check.hpp"
#include "core/error.hpp"

using namespace moesim;
using namespace moesim::calib;

namespace {

Profile attention_profile() {
  Profile p;
  p.meta.device = "test";
  p.meta.source = "measured";
  p.hbm_bandwidth = Bandwidth::from_GBps(1000);
  p.matrix_bf16_TFLOPs = 100;
  p.memory_GB = 80;
  p.kernels_model = "tiny";
  p.kernels_provenance.source = "measured";
  p.kernels_us["attn_decode_b1_us"] = LogTable{{100, 10000}, {10, 30}};
  p.kernels_us["attn_decode_b16_us"] = LogTable{{100, 10000}, {20, 100}};
  p.kernels_us["attn_prefill_us"] = LogTable{{1000, 100000}, {50, 250}};
  return p;
}

ModelSpec tiny() {
  ModelSpec m;
  m.name = "tiny";
  m.hidden = 64;
  m.layers = 1;
  m.routed_experts = 4;
  m.top_k = 2;
  m.expert_ffn = 64;
  m.attn_params = 1e4;
  m.kv_bytes_per_token = 256;
  return m;
}

fit::AttentionMeasurement row(const char* phase, int batch, int queries, int context, double us) {
  fit::AttentionMeasurement a;
  a.model = "tiny";
  a.phase = phase;
  a.form = "gqa";
  a.batch = batch;
  a.queries = queries;
  a.context = context;
  a.median_us = a.p10_us = a.p90_us = us;
  a.repeats = 3;
  return a;
}

}  // namespace

TEST_CASE("attention rows at the tables' points are in-sample and the rest held out") {
  const Profile p = attention_profile();
  const std::vector<fit::AttentionMeasurement> rows{
      row("decode", 16, 1, 10000, 100),  // a point of the 16-sequence curve: predicted exactly
      row("decode", 4, 1, 1000, 16),     // between curves: 0.8 x 11.82 + 0.2 x 27.27 = 14.91 predicted
      row("decode", 16, 1, 1000, 30),    // between contexts: 20 + 900 / 9900 x 80 = 27.27 predicted
      row("prefill", 1, 44, 0, 50),      // 44 x 45 / 2 = 990 pairs: below the table, clamped to 50
      row("prefill", 1, 10, 95, 99),     // another model's row is left out
  };
  std::vector<fit::AttentionMeasurement> all = rows;
  all.back().model = "other";
  const std::vector<ValidateRow> r = predict_attention(p, tiny(), all);
  REQUIRE(r.size() == 4);
  CHECK_FALSE(r[0].held_out);
  CHECK(r[0].predicted_us == Approx(100));
  CHECK(r[0].error_pct == Approx(0).margin(1e-9));
  CHECK(r[1].held_out);
  const double b1 = 10 + 900.0 / 9900 * 20, b16 = 20 + 900.0 / 9900 * 80;
  CHECK(r[1].predicted_us == Approx(0.8 * b1 + 0.2 * b16));
  CHECK(r[1].error_pct == Approx(100.0 * (0.8 * b1 + 0.2 * b16 - 16) / 16));
  CHECK(r[2].held_out);
  CHECK(r[2].predicted_us == Approx(b16));
  CHECK(r[3].held_out);
  CHECK(r[3].phase == "attention prefill");
  CHECK(r[3].predicted_us == Approx(50));
  CHECK(r[0].source == "measured core, roofline projections");
  CHECK(r[1].gate == "b4 q1 ctx1000");
  const std::string text = attention_table_text(r);
  CHECK(text.find("in-sample") < text.find("held out"));
  CHECK(text.find("attention decode   median") != std::string::npos);

  // A point of the prefill table is in-sample: 990 pairs is not, 1000 would be.
  fit::AttentionMeasurement on = row("prefill", 1, 1, 999, 50);  // 999 + 1 = 1000 pairs
  CHECK(on.visible_pairs() == 1000);
  CHECK(attention_in_fit_set(p, on));
  CHECK_FALSE(attention_in_fit_set(p, row("decode", 16, 2, 10000, 1)));  // draft tokens: not a table row

  std::vector<fit::AttentionMeasurement> bad{row("decode", 1, 1, 100, 0)};
  CHECK_THROWS_AS(predict_attention(p, tiny(), bad), Error);
}
