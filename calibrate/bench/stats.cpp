// Timing statistics (see stats.hpp).
#include "bench/stats.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace moesim::calib {

double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) throw Error("quantile of no samples");
  if (!(q >= 0 && q <= 1)) throw Error(fmt::format("quantile {} outside [0, 1]", q));
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  const double frac = pos - static_cast<double>(lo);
  return sorted[lo] + frac * (sorted[hi] - sorted[lo]);
}

TimingStats summarize_us(std::vector<double> samples_us) {
  if (samples_us.empty()) throw Error("no timing samples");
  for (double s : samples_us)
    if (!std::isfinite(s) || s < 0) throw Error(fmt::format("bad timing sample {} us", s));
  std::sort(samples_us.begin(), samples_us.end());
  TimingStats t;
  t.median_us = quantile_sorted(samples_us, 0.5);
  t.p10_us = quantile_sorted(samples_us, 0.1);
  t.p90_us = quantile_sorted(samples_us, 0.9);
  t.min_us = samples_us.front();
  t.max_us = samples_us.back();
  t.repeats = static_cast<int>(samples_us.size());
  return t;
}

double bandwidth_GBps(double bytes, double time_us) { return time_us > 0 ? bytes / (time_us * 1e3) : 0; }

double rate_TFLOPs(double flops, double time_us) { return time_us > 0 ? flops / (time_us * 1e6) : 0; }

}  // namespace moesim::calib
