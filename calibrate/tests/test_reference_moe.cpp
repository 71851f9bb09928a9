// CPU references of permute, SwiGLU, the A B^T product and combine, and the tolerance checks.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "reference/checks.hpp"
#include "reference/host_values.hpp"
#include "reference/reference.hpp"

using namespace moesim::calib;

TEST_CASE("permute reference: histogram, offsets, stable rows") {
  // T = 3, k = 2, E = 4; ids {2,0 | 1,2 | 2,3}: counts {1, 1, 3, 1}, offsets {0, 1, 2, 5, 6};
  // expert 2's assignments (0, 3, 4) take rows 2, 3, 4 in token order.
  const std::vector<std::int32_t> ids{2, 0, 1, 2, 2, 3};
  const PermuteRef r = permute_ref(ids.data(), 3, 2, 4);
  CHECK(r.counts == std::vector<int>{1, 1, 3, 1});
  CHECK(r.offsets == std::vector<int>{0, 1, 2, 5, 6});
  CHECK(r.perm_row == std::vector<int>{2, 0, 1, 3, 4, 5});
  const LayoutCheck good = check_permute_layout(ids.data(), 3, 2, 4, r.offsets, r.perm_row);
  CHECK(good.ok());
  CHECK(good.checked == 11);  // 5 offsets + 6 assignments
  // Another order inside expert 2 is as valid (the GPU's atomics choose one).
  CHECK(check_permute_layout(ids.data(), 3, 2, 4, r.offsets, {4, 0, 1, 2, 3, 5}).ok());
  // Row 3 twice (assignment 4): one wrong. Rows 1 and 2 swapped: assignment 0 (expert 2) in row 1
  // outside [2, 5), assignment 2 (expert 1) in row 2 outside [1, 2): two wrong. offsets[3] = 4,
  // not 5: one wrong.
  const LayoutCheck twice = check_permute_layout(ids.data(), 3, 2, 4, r.offsets, {2, 0, 1, 3, 3, 5});
  CHECK(twice.wrong == 1);
  CHECK(twice.first_failure == "row 3 was written twice");
  CHECK(check_permute_layout(ids.data(), 3, 2, 4, r.offsets, {1, 0, 2, 3, 4, 5}).wrong == 2);
  CHECK(check_permute_layout(ids.data(), 3, 2, 4, {0, 1, 2, 4, 6}, r.perm_row).wrong == 1);
  CHECK_FALSE(check_permute_layout(ids.data(), 3, 2, 4, {0, 1, 2, 5}, r.perm_row).ok());  // too short
}

TEST_CASE("permute then combine with weights 1/k gives the tokens back") {
  const int tokens = 5, hidden = 16, k = 4, experts = 6;
  std::vector<std::uint16_t> x(tokens * hidden);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = bf16_test_value(3, i, -6);
  const std::vector<std::int32_t> ids{0, 1, 2, 3, 5, 4, 3, 2, 1, 2, 3, 4, 0, 5, 2, 1, 3, 4, 5, 0};
  const PermuteRef p = permute_ref(ids.data(), tokens, k, experts);
  const std::vector<std::uint16_t> rows = permute_rows_ref(x.data(), tokens, hidden, k, p.perm_row);
  // Identity experts: combine sums k copies times 1/4 (exact in binary) = the token itself.
  const std::vector<float> w(tokens * k, 0.25f);
  const std::vector<double> back = combine_ref(rows.data(), p.perm_row, w.data(), tokens, k, hidden);
  for (std::size_t i = 0; i < x.size(); ++i) REQUIRE(back[i] == bf16_to_float(x[i]));
}

TEST_CASE("SwiGLU reference") {
  // Gate half {0, 1}, up half {2, 3}: silu(0) * 2 = 0; silu(1) * 3 = 3 / (1 + e^-1) = 2.193176.
  const std::vector<std::uint16_t> y{bf16_bits_of(0, 0), bf16_bits_of(1, 0), bf16_bits_of(2, 0), bf16_bits_of(3, 0)};
  std::vector<double> out;
  swiglu_ref(y.data(), 1, 2, out);
  CHECK(out[0] == 0);
  CHECK(out[1] == Approx(2.1931757359));
}

TEST_CASE("A B^T reference and its absolute sums") {
  // A = [[1, 2], [3, -4]], B rows [1, 0], [0, 1], [1, 1]: C = [[1, 2, 3], [3, -4, -1]];
  // sums of |terms|: [[1, 2, 3], [3, 4, 7]].
  const std::vector<std::uint16_t> a{bf16_bits_of(1, 0), bf16_bits_of(2, 0), bf16_bits_of(3, 0), bf16_bits_of(-4, 0)};
  const std::vector<std::uint16_t> b{bf16_bits_of(1, 0), 0, 0, bf16_bits_of(1, 0), bf16_bits_of(1, 0),
                                     bf16_bits_of(1, 0)};
  std::vector<double> c, s;
  matmul_abt_ref(a.data(), 2, b.data(), 3, 2, c, s);
  CHECK(c == std::vector<double>{1, 2, 3, 3, -4, -1});
  CHECK(s == std::vector<double>{1, 2, 3, 3, 4, 7});
}

TEST_CASE("compare_values applies atol + rtol |ref| + factor * sum|terms|") {
  const Tolerance tol{0.01, 0.001, 0.1};
  // Allowed: 0.001 + 0.01 * 2 + 0.1 * 1 = 0.121 for the first value.
  const std::vector<double> want{2, 10}, sums{1, 0};
  CHECK(compare_values(std::vector<double>{2.12, 10.05}, want, sums, tol).ok());
  const CompareResult bad = compare_values(std::vector<double>{2.13, 10.0}, want, sums, tol);
  CHECK_FALSE(bad.ok());
  CHECK(bad.first_bad == 0);
  CHECK(bad.first_allowed == Approx(0.121));
  CHECK_FALSE(compare_values(std::vector<double>{std::nan(""), 10}, want, sums, tol).ok());
  CompareResult all = compare_values(std::vector<double>{2, 10}, want, sums, tol);
  merge_compare(all, bad);
  CHECK(all.checked == 4);
  CHECK(all.failed == 1);
  CHECK(all.first_bad == 2);
}
