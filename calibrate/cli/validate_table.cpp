// Simulator prediction beside the measured layer (see validate_table.hpp).
#include "cli/validate_table.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bench/stats.hpp"
#include "cli/calib_args.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "gpu/compute_model.hpp"
#include "io/csv_writer.hpp"

namespace moesim::calib {

ModelSpec spec_as_run(const ModelSpec& preset, double weight_bytes) {
  ModelSpec s = preset;
  s.weight_bytes = weight_bytes;
  s.dispatch_bytes = 2;
  s.combine_bytes = 2;
  return s;
}

bool in_fit_set(const Profile& profile, std::int64_t tokens, double skew) {
  bool at_point = false;
  for (const char* name : {"gate_us", "permute_us", "expert_us"})
    if (const auto it = profile.kernels_us.find(name); it != profile.kernels_us.end())
      at_point = at_point || std::find(it->second.x.begin(), it->second.x.end(), static_cast<double>(tokens)) !=
                                 it->second.x.end();
  if (!at_point) return false;
  const auto& skews = profile.kernels_fit_skews;
  return std::any_of(skews.begin(), skews.end(), [&](double s) { return std::fabs(s - skew) < 1e-9; });
}

std::vector<ValidateRow> predict_layer(const Profile& profile, const ModelSpec& spec, const fit::LayerMeasurement& m) {
  const ComputeModel cm(profile, spec);
  const int tokens = static_cast<int>(m.tokens);
  const double gate = us_from_ps(cm.gate_ps(tokens));
  const double experts_us = us_from_ps(cm.experts_ps(m.tokens_per_expert));
  const double combine = us_from_ps(cm.combine_ps(m.tokens * spec.top_k));
  // The tables are fitted on Zipf-family routings over all the model's experts: any other gate,
  // and a slice of the experts, is held out whatever its tokens.
  const int experts = static_cast<int>(m.tokens_per_expert.size());
  const bool slice = experts < spec.routed_experts;
  const bool held_out = slice || !zipf_family(m.gate) || !in_fit_set(profile, m.tokens, m.skew);
  const auto row = [&](const char* phase, double measured, double predicted, std::string source) {
    if (!(measured > 0)) throw Error(fmt::format("validate: measured {} time {} us is not positive", phase, measured));
    return ValidateRow{m.model,
                       m.tokens,
                       m.skew,
                       m.gate,
                       experts,
                       phase,
                       measured,
                       predicted,
                       (predicted - measured) / measured * 100,
                       std::move(source),
                       held_out};
  };
  if (slice)
    return {row("experts", m.experts_us, experts_us, cm.source(Phase::experts)),
            row("combine", m.combine_us, combine, cm.source(Phase::combine))};
  return {row("gate+permute", m.gate_us + m.permute_us, gate, cm.source(Phase::gate)),
          row("experts", m.experts_us, experts_us, cm.source(Phase::experts)),
          row("combine", m.combine_us, combine, cm.source(Phase::combine)),
          row("layer", m.total_us, gate + experts_us + combine, "sum")};
}

ErrorSummary summarize_errors(const std::vector<ValidateRow>& rows, const std::string& phase, RowSet set) {
  std::vector<double> errs;
  for (const ValidateRow& r : rows)
    if ((phase.empty() || r.phase == phase) && (set == RowSet::all || r.held_out == (set == RowSet::held_out)))
      errs.push_back(std::fabs(r.error_pct));
  ErrorSummary s;
  s.rows = static_cast<int>(errs.size());
  if (errs.empty()) return s;
  std::sort(errs.begin(), errs.end());
  s.median_abs_pct = quantile_sorted(errs, 0.5);
  s.p90_abs_pct = quantile_sorted(errs, 0.9);
  s.max_abs_pct = errs.back();
  return s;
}

std::string validate_table_text(const std::vector<ValidateRow>& rows) {
  std::string out = fmt::format("{:<16} {:>7} {:>7} {:<14} {:<13} {:>12} {:>12} {:>8}  {:<8} {}\n", "model",
                                "experts", "tokens", "gate", "phase", "measured_us", "predicted_us", "error%", "set",
                                "source");
  for (const ValidateRow& r : rows)
    out += fmt::format("{:<16} {:>7} {:>7} {:<14} {:<13} {:>12.2f} {:>12.2f} {:>+8.1f}  {:<8} {}\n", r.model,
                       r.experts, r.tokens, r.gate, r.phase, r.measured_us, r.predicted_us, r.error_pct,
                       r.held_out ? "held-out" : "fit", r.source);
  // In-sample layers sit on the fit's own points; only the held-out ones test the model.
  for (const auto& [set, title] : {std::pair{RowSet::in_sample, "in-sample (token count and skew in the fit set)"},
                                   std::pair{RowSet::held_out, "held out (not fitted)"}}) {
    out += fmt::format("\n|error| of {} layers:\n", title);
    for (const char* phase : {"gate+permute", "experts", "combine", "layer", ""}) {
      const ErrorSummary s = summarize_errors(rows, phase, set);
      if (s.rows == 0) continue;
      out += fmt::format("  {:<13} median {:>6.1f}%  p90 {:>6.1f}%  max {:>6.1f}%  ({} rows)\n",
                         *phase ? phase : "all phases", s.median_abs_pct, s.p90_abs_pct, s.max_abs_pct, s.rows);
    }
  }
  return out;
}

std::string validate_csv(const std::vector<ValidateRow>& rows) {
  io::CsvWriter csv;
  csv.fields({"model", "experts", "tokens", "skew", "gate", "phase", "measured_us", "predicted_us", "error_pct", "source",
              "set"})
      .end_row();
  for (const ValidateRow& r : rows)
    csv.text(r.model)
        .number(r.experts)
        .number(r.tokens)
        .number(r.skew)
        .text(r.gate)  // a trace path may hold a comma: quoted then
        .text(r.phase)
        .number(r.measured_us, "{:.6g}")
        .number(r.predicted_us, "{:.6g}")
        .number(r.error_pct, "{:.4g}")
        .text(r.source)
        .text(r.held_out ? "held_out" : "fit")
        .end_row();
  return csv.str();
}

}  // namespace moesim::calib
