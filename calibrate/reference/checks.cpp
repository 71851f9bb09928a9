// Result checks with explicit tolerances (see checks.hpp).
#include "reference/checks.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "reference/reference.hpp"

namespace moesim::calib {

std::string CompareResult::describe(const std::string& what) const {
  if (checked == 0) return what + ": nothing was checked";
  if (failed == 0)
    return fmt::format("{}: {} values within tolerance (max |error| {:.3g})", what, checked, max_abs_error);
  return fmt::format(
      "{}: {} of {} values outside tolerance; first at index {}: got {:.7g}, want {:.7g} (allowed "
      "error {:.3g})",
      what, failed, checked, first_bad, first_got, first_want, first_allowed);
}

CompareResult compare_values(std::span<const double> got, std::span<const double> want, std::span<const double> abs_sum,
                             const Tolerance& tol) {
  CompareResult r;
  if (got.size() != want.size() || (!abs_sum.empty() && abs_sum.size() != want.size())) {
    r.checked = 1;
    r.failed = 1;
    r.first_bad = 0;
    return r;
  }
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]);
    const double allowed =
        tol.atol + tol.rtol * std::fabs(want[i]) + (abs_sum.empty() ? 0.0 : tol.sum_factor * abs_sum[i]);
    ++r.checked;
    if (std::isfinite(err)) r.max_abs_error = std::max(r.max_abs_error, err);
    if (!(err <= allowed)) {  // NaN fails
      if (r.failed++ == 0) {
        r.first_bad = static_cast<std::int64_t>(i);
        r.first_got = got[i];
        r.first_want = want[i];
        r.first_allowed = allowed;
      }
    }
  }
  return r;
}

void merge_compare(CompareResult& a, const CompareResult& b) {
  if (a.failed == 0 && b.failed > 0) {
    a.first_bad = a.checked + b.first_bad;
    a.first_got = b.first_got;
    a.first_want = b.first_want;
    a.first_allowed = b.first_allowed;
  }
  a.checked += b.checked;
  a.failed += b.failed;
  a.max_abs_error = std::max(a.max_abs_error, b.max_abs_error);
}

std::string TopkCheck::describe() const {
  std::string s = fmt::format("top-k: {} tokens, {} exact, {} near ties, {} failures, max weight error {:.3g}", tokens,
                              exact, near_ties, failures, max_weight_error);
  if (!first_failure.empty()) s += "; first failure: " + first_failure;
  if (failures == 0 && !ok()) s += "; too many near ties for random inputs";
  return s;
}

TopkCheck check_topk(const float* logits, const float* bias, int tokens, const GateConfig& c,
                     const std::int32_t* gpu_ids, const float* gpu_weights) {
  const TopkRef ref = topk_ref(logits, bias, tokens, c);
  const int k = c.top_k;
  TopkCheck r;
  r.tokens = tokens;
  std::vector<int> ids(k);
  std::vector<double> want(k);
  const auto fail = [&](int t, const std::string& what) {
    if (r.failures++ == 0) r.first_failure = fmt::format("token {}: {}", t, what);
  };
  for (int t = 0; t < tokens; ++t) {
    const std::size_t base = static_cast<std::size_t>(t) * k;
    bool valid = true;
    for (int j = 0; j < k; ++j) {
      ids[j] = gpu_ids[base + j];
      if (ids[j] < 0 || ids[j] >= c.experts) valid = false;
    }
    if (!valid || std::set<int>(ids.begin(), ids.end()).size() != static_cast<std::size_t>(k)) {
      fail(t, "expert ids out of range or repeated");
      continue;
    }
    const std::set<int> got(ids.begin(), ids.end()), exp(ref.ids.begin() + base, ref.ids.begin() + base + k);
    if (got == exp) {
      ++r.exact;
    } else if (ref.margin[t] <= kGateTieTolerance) {
      ++r.near_ties;
    } else {
      fail(t, fmt::format("selected {} but the reference selects {} (decision margin {:.3g})", fmt::join(ids, ","),
                          fmt::join(exp, ","), ref.margin[t]));
      continue;
    }
    topk_weights_for(logits + static_cast<std::size_t>(t) * c.experts, c, ids.data(), want.data());
    for (int j = 0; j < k; ++j) {
      const double err = std::fabs(gpu_weights[base + j] - want[j]);
      r.max_weight_error = std::max(r.max_weight_error, std::isfinite(err) ? err : 1e300);
      if (!(err <= kGateWeightAtol + kGateWeightRtol * std::fabs(want[j]))) {
        fail(t, fmt::format("weight of expert {} is {:.7g}, want {:.7g}", ids[j], gpu_weights[base + j], want[j]));
        break;
      }
    }
  }
  return r;
}

LayoutCheck check_permute_layout(const std::int32_t* ids, int tokens, int top_k, int experts,
                                 const std::vector<int>& gpu_offsets, const std::vector<int>& gpu_perm_row) {
  const PermuteRef ref = permute_ref(ids, tokens, top_k, experts);
  LayoutCheck r;
  const auto fail = [&](const std::string& what) {
    if (r.wrong++ == 0) r.first_failure = what;
  };
  const std::size_t n = static_cast<std::size_t>(tokens) * top_k;
  if (gpu_offsets.size() != ref.offsets.size() || gpu_perm_row.size() != n) {
    r.checked = 1;
    fail(gpu_offsets.size() != ref.offsets.size() ? "offsets have the wrong length" : "perm_row has the wrong length");
    return r;
  }
  for (int e = 0; e <= experts; ++e) {
    ++r.checked;
    if (gpu_offsets[e] != ref.offsets[e])
      fail(fmt::format("offsets[{}] = {}, want {} (histogram prefix sum)", e, gpu_offsets[e], ref.offsets[e]));
  }
  std::vector<char> seen(n, 0);
  for (std::size_t a = 0; a < n; ++a) {
    ++r.checked;
    const int row = gpu_perm_row[a], e = ids[a];
    if (row < ref.offsets[e] || row >= ref.offsets[e + 1])
      fail(fmt::format("assignment {} (expert {}) went to row {}, outside [{}, {})", a, e, row, ref.offsets[e],
                       ref.offsets[e + 1]));
    else if (seen[static_cast<std::size_t>(row)]++)
      fail(fmt::format("row {} was written twice", row));
  }
  return r;
}

}  // namespace moesim::calib
