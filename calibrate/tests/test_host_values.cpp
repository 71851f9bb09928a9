// Exact test values shared with the GPU: bf16 / fp8 bit patterns built from integers, and the
// host's bf16 rounding.
#include <catch2/catch.hpp>

#include <cmath>

#include "reference/host_values.hpp"
#include "reference/reference.hpp"

using namespace moesim::calib;

TEST_CASE("bf16 bit patterns of small integers times powers of two are exact") {
  CHECK(bf16_bits_of(1, 0) == 0x3F80);    // 1.0
  CHECK(bf16_bits_of(-1, 0) == 0xBF80);   // -1.0
  CHECK(bf16_bits_of(3, -2) == 0x3F40);   // 0.75 = 1.5 * 2^-1
  CHECK(bf16_bits_of(64, -6) == 0x3F80);  // 1.0
  CHECK(bf16_bits_of(127, 0) == 0x42FE);  // 127 = 1.984375 * 2^6
  CHECK(bf16_bits_of(0, 5) == 0);
  for (int n = -127; n <= 127; ++n)
    for (int e = -14; e <= 3; ++e) REQUIRE(bf16_to_float(bf16_bits_of(n, e)) == std::ldexp(static_cast<float>(n), e));
}

TEST_CASE("fp8 e4m3 bit patterns decode to n / 8") {
  CHECK(fp8_e4m3_bits_of(8, -3) == 0x38);  // 1.0: exponent field 7, mantissa 0
  for (int n = -8; n <= 7; ++n) REQUIRE(fp8_e4m3_to_double(fp8_e4m3_bits_of(n, -3)) == n / 8.0);
  CHECK(std::isnan(fp8_e4m3_to_double(0x7F)));
  CHECK(fp8_e4m3_to_double(0x01) == std::ldexp(1.0 / 8, -6));  // smallest subnormal 2^-9
}

TEST_CASE("bf16 rounding is to nearest, ties to even") {
  CHECK(bf16_from_float(1.0f) == 0x3F80);
  CHECK(bf16_from_float(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);                          // tie, even stays
  CHECK(bf16_from_float(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3F82);                      // tie, odd rounds up
  CHECK(bf16_from_float(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)) == 0x3F81);  // above the tie
  CHECK(std::isnan(bf16_to_float(bf16_from_float(std::nanf("")))));
}

TEST_CASE("test values are deterministic, spread and in range") {
  CHECK(value_hash(1, 2) == value_hash(1, 2));
  CHECK(value_hash(1, 2) != value_hash(1, 3));
  CHECK(value_hash(1, 2) != value_hash(2, 2));
  double sum = 0;
  for (int i = 0; i < 4096; ++i) {
    const float v = bf16_to_float(bf16_test_value(7, static_cast<std::uint64_t>(i), -6));
    REQUIRE(v >= -1.0f);
    REQUIRE(v < 1.0f);
    sum += v * v;
  }
  CHECK(sum / 4096 == Approx(1.0 / 3).epsilon(0.1));  // uniform on [-1, 1): mean square 1/3
}

TEST_CASE("fan-in scale keeps dot products of order one") {
  CHECK(fan_in_exp2(1) == 0);
  CHECK(fan_in_exp2(4) == -1);
  CHECK(fan_in_exp2(2048) == -5);  // 4^5 = 1024 <= 2048 < 4^6
  CHECK(fan_in_exp2(7168) == -6);  // 4^6 = 4096 <= 7168 < 4^7
}
