// Measured attention kernels against the profile's prediction (see attention_check.hpp).
#include "cli/attention_check.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "core/units.hpp"
#include "gpu/compute_model.hpp"
#include "spec/step_batch.hpp"

namespace moesim::calib {

namespace {

bool has_x(const LogTable& t, double x) { return std::find(t.x.begin(), t.x.end(), x) != t.x.end(); }

AttentionWork work_of(const fit::AttentionMeasurement& a) {
  AttentionWork w;
  for (int s = 0; s < a.batch; ++s) w.add({a.queries, a.context, a.phase == "prefill"});
  return w;
}

}  // namespace

bool attention_in_fit_set(const Profile& profile, const fit::AttentionMeasurement& a) {
  const auto& tables = profile.kernels_us;
  if (a.phase == "prefill") {
    const auto it = tables.find("attn_prefill_us");
    return it != tables.end() && has_x(it->second, a.visible_pairs());
  }
  const auto it = tables.find(fmt::format("attn_decode_b{}_us", a.batch));
  return a.queries == 1 && it != tables.end() && has_x(it->second, a.context);
}

std::vector<ValidateRow> predict_attention(const Profile& profile, const ModelSpec& spec,
                                           const std::vector<fit::AttentionMeasurement>& rows) {
  const ComputeModel cm(profile, spec);
  const std::string source = cm.source(Phase::attention);
  std::vector<ValidateRow> out;
  for (const fit::AttentionMeasurement& a : rows) {
    if (a.model != spec.name) continue;
    if (!(a.median_us > 0))
      throw Error(fmt::format("attention check: measured time {} us is not positive", a.median_us));
    const double predicted = us_from_ps(cm.core_attention_ps(work_of(a)));
    ValidateRow r;
    r.model = a.model;
    r.tokens = static_cast<std::int64_t>(a.batch) * a.queries;
    r.gate = fmt::format("b{} q{} ctx{}", a.batch, a.queries, a.context);
    r.phase = "attention " + a.phase;
    r.measured_us = a.median_us;
    r.predicted_us = predicted;
    r.error_pct = (predicted - a.median_us) / a.median_us * 100;
    r.source = source;
    r.held_out = !attention_in_fit_set(profile, a);
    out.push_back(std::move(r));
  }
  return out;
}

std::string attention_table_text(const std::vector<ValidateRow>& rows) {
  std::string out = fmt::format("{:<16} {:<18} {:<22} {:>12} {:>12} {:>8}  {}\n", "model", "phase", "shape",
                                "measured_us", "predicted_us", "error%", "set");
  for (const ValidateRow& r : rows)
    out += fmt::format("{:<16} {:<18} {:<22} {:>12.2f} {:>12.2f} {:>+8.1f}  {}\n", r.model, r.phase, r.gate,
                       r.measured_us, r.predicted_us, r.error_pct, r.held_out ? "held-out" : "fit");
  for (const auto& [set, title] : {std::pair{RowSet::in_sample, "in-sample (a point of the tables)"},
                                   std::pair{RowSet::held_out, "held out (interpolated or extrapolated)"}}) {
    out += fmt::format("\n|error| of {} attention rows:\n", title);
    for (const char* phase : {"attention decode", "attention prefill"}) {
      const ErrorSummary s = summarize_errors(rows, phase, set);
      if (s.rows == 0) continue;
      out += fmt::format("  {:<18} median {:>6.1f}%  p90 {:>6.1f}%  max {:>6.1f}%  ({} rows)\n", phase,
                         s.median_abs_pct, s.p90_abs_pct, s.max_abs_pct, s.rows);
    }
  }
  if (!rows.empty()) out += fmt::format("source: {}\n", rows.front().source);
  return out;
}

}  // namespace moesim::calib
