// The validate table: the simulator's prediction of a measured layer and the error statistics.
#include <catch2/catch.hpp>

#include "cli/validate_table.hpp"
#include "core/error.hpp"

using namespace moesim;
using namespace moesim::calib;

namespace {

// 1 GB/s HBM (1 byte per ns), efficiency 1, 1 us launch: a roofline easy to add up by hand.
Profile slow_profile() {
  Profile p;
  p.meta.device = "test";
  p.meta.source = "derived";
  p.hbm_bandwidth = Bandwidth::from_GBps(1);
  p.hbm_efficiency = 1;
  p.matrix_bf16_TFLOPs = 1000;
  p.matrix_efficiency = 1;
  p.launch_ns = 1000;
  p.gemm_tile_m = 1;
  p.memory_GB = 80;
  return p;
}

ModelSpec tiny_model() {
  ModelSpec m;
  m.name = "tiny";
  m.hidden = 8;
  m.layers = 1;
  m.routed_experts = 4;
  m.top_k = 2;
  m.expert_ffn = 8;
  m.attn_params = 1;
  m.kv_bytes_per_token = 1;
  m.weight_bytes = 1;  // spec_as_run must replace this with what ran
  m.dispatch_bytes = 1;
  return m;
}

}  // namespace

TEST_CASE("spec_as_run sets the precision that was run") {
  const ModelSpec s = spec_as_run(tiny_model(), 2);
  CHECK(s.weight_bytes == 2);
  CHECK(s.dispatch_bytes == 2);
  CHECK(s.combine_bytes == 2);
  CHECK(s.hidden == 8);
}

TEST_CASE("predict_layer compares each phase with the roofline") {
  const Profile p = slow_profile();
  const ModelSpec s = spec_as_run(tiny_model(), 2);
  fit::LayerMeasurement m;
  m.model = "tiny";
  m.tokens = 4;
  m.tokens_per_expert = {4, 0, 4, 0};
  m.gate_us = 1;
  m.permute_us = 1;
  m.experts_us = 2;
  m.combine_us = 1;
  m.total_us = 5;
  const std::vector<ValidateRow> rows = predict_layer(p, s, m);
  REQUIRE(rows.size() == 4);
  // Combine: 8 copies * 8 * 2 B read + ceil(8 / 2) * 8 * 2 B written = 192 B at 1 B/ns = 0.192 us,
  // plus the 1 us launch: 1.192 us against 1 us measured: +19.2 %.
  CHECK(rows[2].phase == "combine");
  CHECK(rows[2].predicted_us == Approx(1.192));
  CHECK(rows[2].error_pct == Approx(19.2));
  CHECK(rows[2].source == "roofline");
  // The layer row sums the three predictions.
  CHECK(rows[3].phase == "layer");
  CHECK(rows[3].predicted_us == Approx(rows[0].predicted_us + rows[1].predicted_us + rows[2].predicted_us));
  CHECK(rows[3].measured_us == 5);
  // The profile fitted nothing: held out, whatever the gate.
  for (const ValidateRow& r : rows) CHECK(r.held_out);
  m.combine_us = 0;
  CHECK_THROWS_AS(predict_layer(p, s, m), Error);
}

TEST_CASE("a log-normal layer is held out even at a fitted token count") {
  Profile p = slow_profile();
  p.kernels_model = "tiny";
  p.kernels_us["gate_us"] = LogTable{{1, 4, 128}, {1, 2, 3}};
  p.kernels_fit_skews = {0, 1};
  const ModelSpec s = spec_as_run(tiny_model(), 2);
  fit::LayerMeasurement m;
  m.model = "tiny";
  m.tokens = 4;
  m.tokens_per_expert = {4, 0, 4, 0};
  m.gate_us = m.permute_us = m.experts_us = m.combine_us = 1;
  m.total_us = 4;
  m.gate = "uniform";
  CHECK_FALSE(predict_layer(p, s, m)[0].held_out);
  m.gate = "lognormal:1";
  const auto rows = predict_layer(p, s, m);
  CHECK(rows[0].held_out);
  CHECK(rows[0].gate == "lognormal:1");
  CHECK(rows[0].experts == 4);
  // A slice of the experts (one GPU's under EP): experts and combine only, held out.
  m.gate = "uniform";
  m.tokens_per_expert = {4, 4};
  const auto slice = predict_layer(p, s, m);
  REQUIRE(slice.size() == 2);
  CHECK(slice[0].phase == "experts");
  CHECK(slice[1].phase == "combine");
  CHECK(slice[0].experts == 2);
  CHECK(slice[0].held_out);
}

TEST_CASE("error summary: median and p90 of |error|") {
  std::vector<ValidateRow> rows(4);
  const double errs[] = {10, -20, 30, -40};
  for (int i = 0; i < 4; ++i) {
    rows[i].phase = i < 2 ? "experts" : "combine";
    rows[i].error_pct = errs[i];
  }
  // |error| sorted {10, 20, 30, 40}: median 25; p90 at position 2.7 -> 30 + 0.7 * 10 = 37.
  const ErrorSummary all = summarize_errors(rows, "");
  CHECK(all.rows == 4);
  CHECK(all.median_abs_pct == Approx(25));
  CHECK(all.p90_abs_pct == Approx(37));
  CHECK(summarize_errors(rows, "experts").median_abs_pct == Approx(15));
  CHECK(summarize_errors(rows, "gate+permute").rows == 0);
  CHECK(all.max_abs_pct == 40);
  // Split: rows 0 and 2 in the fit set, 1 and 3 held out.
  rows[0].held_out = rows[2].held_out = false;
  const ErrorSummary fit = summarize_errors(rows, "", RowSet::in_sample);
  const ErrorSummary held = summarize_errors(rows, "", RowSet::held_out);
  CHECK(fit.rows == 2);
  CHECK(fit.max_abs_pct == 30);
  CHECK(held.rows == 2);
  CHECK(held.median_abs_pct == Approx(30));  // {20, 40}
  const std::string csv = validate_csv(rows);
  CHECK(csv.rfind("model,experts,tokens,skew,gate,phase,measured_us,predicted_us,error_pct,source,set\n", 0) == 0);
  rows[1].gate = "traces/a,b.moetrace";  // quoted in the CSV
  CHECK(validate_csv(rows).find(",\"traces/a,b.moetrace\",") != std::string::npos);
  CHECK(csv.find(",held_out\n") != std::string::npos);
  const std::string text = validate_table_text(rows);
  CHECK(text.find("in-sample") < text.find("held out"));
}

TEST_CASE("a layer is in the fit set at a table's token count and a fitted skew") {
  Profile p;
  p.kernels_us["gate_us"] = LogTable{{1, 16, 128}, {1, 2, 3}};
  p.kernels_fit_skews = {0, 1};
  CHECK(in_fit_set(p, 16, 0));
  CHECK(in_fit_set(p, 128, 1));
  CHECK_FALSE(in_fit_set(p, 48, 0));    // between the fitted token counts
  CHECK_FALSE(in_fit_set(p, 16, 0.6));  // an unfitted skew
  p.kernels_us.clear();
  CHECK_FALSE(in_fit_set(p, 16, 0));  // no tables: nothing was fitted
}
