// The one table printer: header and units rows, the nccl-tests bandwidths, the #wrong column, and
// rows that were not timed because their check found wrong values.
#include <catch2/catch.hpp>

#include <string>

#include "bench/table.hpp"
#include "core/error.hpp"

using namespace moesim::calib;

namespace {

// 2e9 bytes in a median of 1000 us on 8 ranks, 5e12 FLOPs.
OpResult timed_result() {
  OpResult r;
  r.name = "all-to-all";
  r.bytes = 2e9;
  r.flops = 5e12;
  r.busbw_factor = 7.0 / 8.0;
  r.verification = {1000, 0, "1000 words received as sent"};
  r.timed = true;
  r.time.median_us = 1000;
  r.time.p10_us = 900;
  r.time.p90_us = 1100;
  r.time.repeats = 50;
  return r;
}

}  // namespace

TEST_CASE("the table prints a header row, a units row and a #wrong column") {
  const ResultTable t({{"size", "B", 6}}, {.busbw = true});
  CHECK(t.header() ==
        "#   size     median        p10        p90     algbw     busbw  #wrong\n"
        "#    (B)       (us)       (us)       (us)    (GB/s)    (GB/s)\n");
  CHECK(t.columns().back().name == "#wrong");
}

TEST_CASE("a timed row shows algbw = bytes / time and busbw = algbw * (n - 1) / n") {
  // algbw = 2e9 B / 1000 us = 2e9 / 1e-3 s = 2e12 B/s = 2000 GB/s; busbw = 2000 * 7/8 = 1750.
  const ResultTable t({{"size", "B", 6}}, {.busbw = true});
  CHECK(t.row({"1024"}, timed_result()) == "    1024    1000.00     900.00    1100.00   2000.00   1750.00       0\n");
  CHECK(timed_result().algbw_GBps() == Approx(2000));
  CHECK(timed_result().busbw_GBps() == Approx(1750));
}

TEST_CASE("the copy and TFLOP/s columns are filled only where they apply") {
  // copy: 2000 / 2500 GB/s = 80%; rate: 5e12 FLOP / 1e-3 s = 5e15 FLOP/s = 5000 TFLOP/s.
  const ResultTable t({{"kernel", "", 8, true}}, {.of_copy = true, .tflops = true});
  CHECK(t.row({"permute"}, timed_result(), 2500) ==
        "  permute     1000.00     900.00    1100.00   2000.00    80    5000.0       0\n");
  OpResult no_flops = timed_result();
  no_flops.flops = 0;
  CHECK(t.row({"permute"}, no_flops) ==
        "  permute     1000.00     900.00    1100.00   2000.00                       0\n");
}

TEST_CASE("a row whose check found wrong values shows them and no times") {
  OpResult r = timed_result();
  r.timed = false;
  r.verification = {1000, 3, "word 7 is 0x0, want 0x1"};
  const ResultTable t({{"size", "B", 6}}, {.busbw = true});
  CHECK(t.row({"1024"}, r) == "    1024          -          -          -         -         -       3\n");
  CHECK(r.algbw_GBps() == 0);
  CHECK(r.TFLOPs() == 0);
}

TEST_CASE("a row must give one cell per label column") {
  const ResultTable t({{"tokens", "", 7}, {"kernel", "", 8, true}}, {});
  CHECK_THROWS_AS(t.row({"1"}, timed_result()), moesim::Error);
  CHECK_THROWS_AS(ResultTable({{"", "", 7}}, {}), moesim::Error);
}

TEST_CASE("verifications merge by adding counts and joining details") {
  Verification a{16, 0, "router GEMM logits: 16 values"};
  merge_verification(a, {8, 2, "top-k: 2 failures"});
  CHECK(a.checked == 24);
  CHECK(a.wrong == 2);
  CHECK(a.detail == "router GEMM logits: 16 values; top-k: 2 failures");
  CHECK_FALSE(a.ok());
  CHECK_FALSE(Verification{}.ok());  // nothing checked is not a pass
}
