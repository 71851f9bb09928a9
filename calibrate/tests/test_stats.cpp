// Timing statistics: quantiles by linear interpolation between order statistics.
#include <catch2/catch.hpp>

#include <cmath>

#include "bench/stats.hpp"
#include "core/error.hpp"

using namespace moesim::calib;

TEST_CASE("quantiles interpolate between order statistics") {
  // n = 4: position q * 3. Median at 1.5 -> 2.5; p10 at 0.3 -> 1 + 0.3 = 1.3; p90 at 2.7 -> 3.7.
  const std::vector<double> s{1, 2, 3, 4};
  CHECK(quantile_sorted(s, 0.5) == Approx(2.5));
  CHECK(quantile_sorted(s, 0.1) == Approx(1.3));
  CHECK(quantile_sorted(s, 0.9) == Approx(3.7));
  CHECK(quantile_sorted(s, 0.0) == 1);
  CHECK(quantile_sorted(s, 1.0) == 4);
  CHECK_THROWS_AS(quantile_sorted({}, 0.5), moesim::Error);
  CHECK_THROWS_AS(quantile_sorted(s, 1.5), moesim::Error);
}

TEST_CASE("summarize sorts its samples and reports median, p10, p90") {
  // Sorted {1, 2, 3, 4, 5}: median = 3; p10 at position 0.4 -> 1.4; p90 at 3.6 -> 4.6.
  const TimingStats t = summarize_us({5, 1, 4, 2, 3});
  CHECK(t.median_us == Approx(3));
  CHECK(t.p10_us == Approx(1.4));
  CHECK(t.p90_us == Approx(4.6));
  CHECK(t.min_us == 1);
  CHECK(t.max_us == 5);
  CHECK(t.repeats == 5);
  const TimingStats one = summarize_us({7.5});
  CHECK(one.median_us == 7.5);
  CHECK(one.p10_us == 7.5);
  CHECK(one.p90_us == 7.5);
}

TEST_CASE("summarize refuses samples it cannot trust") {
  CHECK_THROWS_AS(summarize_us({}), moesim::Error);
  CHECK_THROWS_AS(summarize_us({1.0, -2.0}), moesim::Error);
  CHECK_THROWS_AS(summarize_us({1.0, std::nan("")}), moesim::Error);
}

TEST_CASE("bandwidth and rate units") {
  // 1e9 bytes in 1 s (1e6 us) = 1 GB/s; 2e9 bytes in 1 ms = 2000 GB/s; 1e12 FLOPs in 1 s = 1 TFLOP/s.
  CHECK(bandwidth_GBps(1e9, 1e6) == Approx(1.0));
  CHECK(bandwidth_GBps(2e9, 1e3) == Approx(2000.0));
  CHECK(rate_TFLOPs(1e12, 1e6) == Approx(1.0));
  CHECK(bandwidth_GBps(1e9, 0) == 0);
}
