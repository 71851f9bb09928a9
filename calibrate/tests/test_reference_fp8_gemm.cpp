// The fp8 grouped GEMM CPU reference in closed form: rows take their expert's weights, each
// 128-wide K block and 128-row N block its own scale, and bad descriptions are refused.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "reference/reference_fp8_gemm.hpp"

using moesim::calib::Fp8GroupedGemm;
using moesim::calib::fp8_grouped_gemm_ref;

namespace {
constexpr std::uint8_t kOne = 0x38;       // e4m3: exponent 7 (bias 7), mantissa 0 = 1.0
constexpr std::uint8_t kTwo = 0x40;       // 2.0
constexpr std::uint8_t kMinusOne = 0xB8;  // -1.0
}  // namespace

TEST_CASE("fp8 grouped GEMM reference: rows take their expert's weights") {
  // Two experts, k = 2, n = 1; expert 0 owns row 0, expert 1 rows 1-2. Unit scales.
  const std::vector<std::uint8_t> a = {kOne, kTwo, kOne, kOne, kTwo, kMinusOne};
  const std::vector<float> a_scale = {1, 1, 1};
  const std::vector<std::uint8_t> b = {kOne, kOne, kTwo, kMinusOne};  // expert 0: (1, 1); expert 1: (2, -1)
  const std::vector<float> b_scale = {1, 1};
  Fp8GroupedGemm g{1, 2, {0, 1, 3}, a.data(), a_scale.data(), b.data(), b_scale.data()};
  std::vector<double> out, abs_sum;
  fp8_grouped_gemm_ref(g, out, abs_sum);
  REQUIRE(out.size() == 3);
  CHECK(out[0] == 3);   // 1 + 2
  CHECK(out[1] == 1);   // 2 - 1
  CHECK(out[2] == 5);   // 4 + 1
  CHECK(abs_sum[1] == 3);
  g.offsets = {0, 2, 1};
  CHECK_THROWS_AS(fp8_grouped_gemm_ref(g, out, abs_sum), moesim::Error);
}

TEST_CASE("fp8 grouped GEMM reference: one scale per 128 columns of a row and per 128 x 128 weight block") {
  // One expert, one row, k = 256 (two K blocks), n = 130 (two N blocks); every value 1.0.
  const int k = 256, n = 130;
  const std::vector<std::uint8_t> a(k, kOne);
  const std::vector<float> a_scale = {2, 3};
  const std::vector<std::uint8_t> b(static_cast<std::size_t>(n) * k, kOne);
  const std::vector<float> b_scale = {5, 7, 11, 13};  // [n block][k block]
  const Fp8GroupedGemm g{n, k, {0, 1}, a.data(), a_scale.data(), b.data(), b_scale.data()};
  std::vector<double> out, abs_sum;
  fp8_grouped_gemm_ref(g, out, abs_sum);
  CHECK(out[0] == 128 * (2 * 5) + 128 * (3 * 7));       // column 0: N block 0
  CHECK(out[129] == 128 * (2 * 11) + 128 * (3 * 13));   // column 129: N block 1
}
