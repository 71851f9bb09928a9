// The fp8 scale layouts the block-scaled expert FFN hands to cuBLASLt, in closed form: padded
// expert rows, padded weight-scale rows, the grouped VEC128 activation scales, and the way the
// check turns them into the CPU reference's layout.
#include <catch2/catch.hpp>

#include <cstdint>
#include <set>
#include <vector>

#include "kernels/fp8_layout.hpp"
#include "reference/reference_fp8_gemm.hpp"

using namespace moesim::calib;

TEST_CASE("fp8 layout: expert rows pad to multiples of 8 and scale blocks are 128 wide") {
  CHECK(fp8_padded_rows(0) == 0);
  CHECK(fp8_padded_rows(1) == 8);
  CHECK(fp8_padded_rows(8) == 8);
  CHECK(fp8_padded_rows(9) == 16);
  CHECK(fp8_scale_blocks(7168) == 56);  // deepseek-v3 hidden
  CHECK(fp8_scale_blocks(768) == 6);    // qwen3-30b-a3b expert ffn
  CHECK(fp8_scale_blocks(130) == 2);
}

TEST_CASE("fp8 layout: weight scales are [m/128][k/128 rounded up to 4]") {
  CHECK(fp8_weight_scale_ld(7168) == 56);                    // 56 blocks, already a multiple of 4
  CHECK(fp8_weight_scale_ld(768) == 8);                      // 6 blocks padded to 8
  CHECK(fp8_weight_scale_count(2 * 2048, 7168) == 32 * 56);  // deepseek-v3 W1
  CHECK(fp8_weight_scale_count(2048, 768) == 16 * 8);        // qwen3 W2
  // Element (130, 700) of a k = 768 weight: N block 1, K block 5 -> 1 * 8 + 5.
  CHECK(fp8_weight_scale_index(130, 700, 768) == 13);
}

TEST_CASE("fp8 layout: a row's group skips empty groups") {
  const std::vector<int> first = {0, 8, 8, 24};  // groups [0, 8), [8, 8) (empty), [8, 24)
  CHECK(fp8_group_of(first.data(), 3, 0) == 0);
  CHECK(fp8_group_of(first.data(), 3, 7) == 0);
  CHECK(fp8_group_of(first.data(), 3, 8) == 2);
  CHECK(fp8_group_of(first.data(), 3, 23) == 2);
  CHECK(fp8_group_of(first.data(), 1, 5) == 0);
}

TEST_CASE("fp8 layout: each group's activation scales are one [blocks][group rows] tensor") {
  // Groups of 8 and 16 rows, 2 blocks: group 1 starts at 8 x 2 = 16; row 10 (its row 2), block 1
  // -> 16 + 1 x 16 + 2 = 34.
  CHECK(fp8_act_scale_index(8, 16, 2, 10, 1) == 34);
  CHECK(fp8_act_scale_index(0, 8, 2, 3, 1) == 11);
  // Every (row, block) of rows [0, 24) lands on its own slot in [0, 48).
  const std::vector<int> first = {0, 8, 24};
  std::set<std::int64_t> seen;
  for (int row = 0; row < 24; ++row)
    for (int b = 0; b < 2; ++b) {
      const int g = fp8_group_of(first.data(), 2, row);
      const std::int64_t at = fp8_act_scale_index(first[g], first[g + 1] - first[g], 2, row, b);
      CHECK(at >= 0);
      CHECK(at < 48);
      seen.insert(at);
    }
  CHECK(seen.size() == 48);
}

TEST_CASE("fp8 layout: scales read through the layouts give the reference's block products") {
  // One expert, 8 padded rows of which row 3 is checked, k = 256 (2 K blocks), n = 130 (2 N
  // blocks); every value 1.0 (e4m3 0x38). Activation scales of row 3: 2 and 3; weight scales
  // [n block][k block] = 5, 7 / 11, 13, stored with rows of 4 (2 blocks padded).
  const int k = 256, n = 130, rows = 8, row = 3;
  std::vector<float> act_dev(static_cast<std::size_t>(rows) * 2, 0.0f);
  act_dev[static_cast<std::size_t>(fp8_act_scale_index(0, rows, 2, row, 0))] = 2;
  act_dev[static_cast<std::size_t>(fp8_act_scale_index(0, rows, 2, row, 1))] = 3;
  std::vector<float> w_dev(static_cast<std::size_t>(fp8_weight_scale_count(n, k)), -1.0f);  // padding: never read
  w_dev[static_cast<std::size_t>(fp8_weight_scale_index(0, 0, k))] = 5;
  w_dev[static_cast<std::size_t>(fp8_weight_scale_index(0, 128, k))] = 7;
  w_dev[static_cast<std::size_t>(fp8_weight_scale_index(128, 0, k))] = 11;
  w_dev[static_cast<std::size_t>(fp8_weight_scale_index(128, 128, k))] = 13;
  // What the check does: gather the row's scales and the unpadded weight scales.
  std::vector<float> a_scale, b_scale;
  for (int b = 0; b < 2; ++b)
    a_scale.push_back(act_dev[static_cast<std::size_t>(fp8_act_scale_index(0, rows, 2, row, b))]);
  for (int nb = 0; nb < 2; ++nb)
    for (int kb = 0; kb < 2; ++kb)
      b_scale.push_back(w_dev[static_cast<std::size_t>(fp8_weight_scale_index(nb * 128, kb * 128, k))]);
  const std::vector<std::uint8_t> a(k, 0x38), w(static_cast<std::size_t>(n) * k, 0x38);
  std::vector<double> out, abs_sum;
  fp8_grouped_gemm_ref({n, k, {0, 1}, a.data(), a_scale.data(), w.data(), b_scale.data()}, out, abs_sum);
  CHECK(out[0] == 128 * (2 * 5) + 128 * (3 * 7));
  CHECK(out[129] == 128 * (2 * 11) + 128 * (3 * 13));
}
