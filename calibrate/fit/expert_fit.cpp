// Expert FFN tables from measured grouped GEMMs (see expert_fit.hpp).
#include "fit/expert_fit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "fit/profile_fit.hpp"
#include "io/scenario_loader.hpp"
#include "spec/model_spec.hpp"

namespace moesim::fit {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::string join_numbers(const std::set<double>& items) {
  std::string s;
  for (double v : items) s += fmt::format("{}{}", s.empty() ? "" : ", ", v);
  return s;
}

// Median y per distinct x (x ascending), made non-decreasing; notes which points were pooled.
LogTable monotone_table(const std::vector<std::pair<double, double>>& points, const std::string& what,
                        const char* x_unit, std::vector<std::string>& notes) {
  std::map<double, std::vector<double>> by_x;
  for (const auto& [x, y] : points) by_x[x].push_back(y);
  LogTable t;
  for (const auto& [x, ys] : by_x) {
    t.x.push_back(x);
    t.y.push_back(median(ys));
  }
  const std::vector<double> fixed = monotone_non_decreasing(t.y);
  std::size_t first = fixed.size(), last = 0, changed = 0;
  for (std::size_t i = 0; i < fixed.size(); ++i) {
    if (fixed[i] == t.y[i]) continue;
    first = std::min(first, i);
    last = i;
    ++changed;
  }
  if (changed > 0)
    notes.push_back(fmt::format("{}: {} of {} points pooled to keep the table non-decreasing ({} {} .. {})", what,
                                changed, fixed.size(), x_unit, t.x[first], t.x[last]));
  t.y = fixed;
  return t;
}

namespace {

// The fixed cost of one grouped expert GEMM call (launches, set-up): the intercept of time against
// experts with tokens, over rows with at most 2 tokens per expert. There each expert costs about
// one read of its weights whatever its load, so time = fixed + per-expert x experts. Capped at 0.9 of
// the fastest even-load row so every per-expert point stays positive; 0 when it cannot be told.
double expert_fixed_us(const Measurements& m, const std::string& model, double weight_bytes, double even_skew,
                       std::vector<std::string>& notes) {
  std::vector<std::pair<double, double>> pts;
  double fastest = std::numeric_limits<double>::infinity();
  std::set<int> counts;
  for (const auto& k : m.kernels) {
    if (k.model != model || k.kernel != "expert" || k.weight_bytes != weight_bytes) continue;
    if (k.skew == even_skew) fastest = std::min(fastest, k.median_us);
    if (k.tokens_per_expert > 2) continue;
    pts.emplace_back(k.experts, k.median_us);
    counts.insert(k.experts);
  }
  if (pts.size() < 3 || counts.size() < 2) {
    notes.push_back(
        "expert: fixed cost per call not fitted (needs rows at <= 2 tokens per expert with at least "
        "2 expert counts); expert_fixed_us = 0");
    return 0;
  }
  double mx = 0, my = 0;
  for (const auto& [x, y] : pts) mx += x, my += y;
  mx /= static_cast<double>(pts.size());
  my /= static_cast<double>(pts.size());
  double sxy = 0, sxx = 0;
  for (const auto& [x, y] : pts) sxy += (x - mx) * (y - my), sxx += (x - mx) * (x - mx);
  const double slope = sxy / sxx;
  const double raw = my - slope * mx;
  const double fixed = std::clamp(raw, 0.0, 0.9 * fastest);
  notes.push_back(fmt::format(
      "expert: fixed cost per call {:.2f} us (intercept of time vs experts over {} rows at "
      "<= 2 tokens per expert, {:.2f} us per expert){}",
      fixed, pts.size(), slope, fixed != raw ? fmt::format("; the intercept {:.2f} us was clamped", raw) : ""));
  return fixed;
}

}  // namespace

ExpertFit fit_expert_tables(const Measurements& m, const std::string& model, bool fp8, std::vector<std::string>& notes) {
  // One precision per table set, the one with the most rows (ties: the model's own); fp8 rows
  // have their own set.
  const std::string set = fp8 ? "expert_fp8" : "expert";
  std::map<double, int> rows_by_bytes;
  for (const auto& k : m.kernels)
    if (k.model == model && k.kernel == "expert" && (k.weight_bytes == 1) == fp8) ++rows_by_bytes[k.weight_bytes];
  ExpertFit fit;
  if (!rows_by_bytes.empty()) {
    const auto preset = moesim::io::find_model_preset(model);
    int best = 0;
    for (const auto& [bytes, count] : rows_by_bytes)
      if (count > best || (count == best && preset && bytes == preset->weight_bytes)) {
        best = count;
        fit.weight_bytes = bytes;
      }
    if (rows_by_bytes.size() > 1) {
      std::set<double> all;
      for (const auto& [bytes, count] : rows_by_bytes) all.insert(bytes);
      notes.push_back(
          fmt::format("expert: rows at weight_bytes {{{}}}; fitted the {}-byte rows ({} rows); fit "
                      "the others from a file holding only them (fp8 rows have their own tables)",
                      join_numbers(all), fit.weight_bytes, best));
    }
    // The table means "each expert got n tokens": only rows with even loads (the smallest skew
    // measured; skewed rows record a mean load that hides the uneven split) say exactly that.
    double even = std::numeric_limits<double>::infinity();
    for (const auto& k : m.kernels)
      if (k.model == model && k.kernel == "expert" && k.weight_bytes == fit.weight_bytes) even = std::min(even, k.skew);
    fit.fixed_us = expert_fixed_us(m, model, fit.weight_bytes, even, notes);
    // One curve per number of experts in the call: the model's own count (expert_us), and any
    // other count measured at 3 or more loads (expert_e<N>_us, from `kernels --expert-calls`).
    // Rows at other counts with fewer loads (a small sweep size leaves some experts idle) only
    // fix the per-call cost above.
    std::map<int, std::vector<std::pair<double, double>>> by_calls;
    int uneven = 0, rows = 0, all_experts = preset ? preset->routed_experts : 0;
    for (const auto& k : m.kernels)
      if (k.model == model && k.kernel == "expert" && k.weight_bytes == fit.weight_bytes) {
        if (k.skew != even) {
          ++uneven;
          continue;
        }
        ++rows;
        by_calls[k.experts].emplace_back(k.tokens_per_expert, std::max(0.0, k.median_us - fit.fixed_us) / k.experts);
        fit.skews.insert(k.skew);
        if (!preset) all_experts = std::max(all_experts, k.experts);
      }
    if (uneven > 0)
      notes.push_back(
          fmt::format("expert: fitted the {} rows at skew {} only ({} rows at higher skews left out: "
                      "their per-expert loads are uneven)",
                      rows, even, uneven));
    if (!by_calls.count(all_experts)) {
      // No row with every expert busy: one curve from all rows, as if the count did not matter.
      std::vector<std::pair<double, double>> points;
      for (const auto& [n, pts] : by_calls) points.insert(points.end(), pts.begin(), pts.end());
      by_calls = {{all_experts, points}};
      notes.push_back(fmt::format("expert: no row with all {} experts busy; expert_us from every row", all_experts));
    }
    int left_out = 0;
    for (const auto& [n, pts] : by_calls) {
      std::set<double> loads;
      for (const auto& pt : pts) loads.insert(pt.first);
      if (n != all_experts && loads.size() < 3) {
        left_out += static_cast<int>(pts.size());
        continue;
      }
      const std::string name = n == all_experts ? set + "_us" : fmt::format("{}_e{}_us", set, n);
      fit.tables[name] = monotone_table(pts, name.substr(0, name.size() - 3), "tokens per expert", notes);
      notes.push_back(
          fmt::format("kernels.{}: {} points from {} rows ({} experts per call; per-expert time inside "
                      "the grouped GEMM beyond its fixed cost, {}-byte weights)",
                      name, fit.tables[name].x.size(), pts.size(), n, fit.weight_bytes));
    }
    if (left_out > 0)
      notes.push_back(
          fmt::format("expert: {} rows at expert counts with fewer than 3 loads left out of the curves", left_out));
  } else if (!fp8) {
    notes.push_back("expert: not measured (the simulator uses its roofline)");
  }
  return fit;
}

}  // namespace moesim::fit
