#pragma once
// Timing statistics of repeated measurements: median, p10 and p90 by linear interpolation between
// order statistics (numpy's default), so a few slow outliers move p90, not the median.
#include <string>
#include <vector>

namespace moesim::calib {

struct TimingStats {
  double median_us = 0;
  double p10_us = 0;
  double p90_us = 0;
  double min_us = 0;
  double max_us = 0;
  int repeats = 0;
};

// q-quantile (q in [0, 1]) of `sorted` (ascending, non-empty): value at position q * (n - 1),
// linearly interpolated. Throws Error on an empty input or q outside [0, 1].
double quantile_sorted(const std::vector<double>& sorted, double q);
// Throws Error when `samples_us` is empty or holds a negative or non-finite time.
TimingStats summarize_us(std::vector<double> samples_us);

// Achieved bandwidth in GB/s (1e9 B/s) of `bytes` moved in `time_us`; 0 when time_us <= 0.
double bandwidth_GBps(double bytes, double time_us);
// Rate in TFLOP/s of `flops` in `time_us`; 0 when time_us <= 0.
double rate_TFLOPs(double flops, double time_us);

}  // namespace moesim::calib
