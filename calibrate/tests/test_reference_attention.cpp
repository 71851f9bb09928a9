// The attention CPU reference in closed form: one key returns its value, equal scores average,
// causal chunks see only earlier keys, GQA heads share their KV head, MLA's absorbed value is
// its key's latent part, and bad shapes are refused.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "reference/reference.hpp"
#include "reference/reference_attention.hpp"

using moesim::calib::AttentionShape;
using moesim::calib::attention_ref;
using moesim::calib::bf16_from_float;

namespace {

std::vector<std::uint16_t> bf16(const std::vector<float>& v) {
  std::vector<std::uint16_t> out;
  for (float x : v) out.push_back(bf16_from_float(x));
  return out;
}

}  // namespace

TEST_CASE("attention reference: one key returns its value, equal scores average the values") {
  std::vector<double> out, abs_sum;
  AttentionShape s{.dk = 2, .dv = 2};
  const auto q = bf16({1, 2});
  attention_ref(q.data(), bf16({3, -1}).data(), bf16({0.5f, -4}).data(), s, out, abs_sum);
  CHECK(out == std::vector<double>{0.5, -4});
  // Two keys orthogonal to q: equal scores, the mean of the values.
  s.keys = 2;
  const auto k = bf16({2, -1, -2, 1});
  const auto v = bf16({1, 2, 3, -6});
  attention_ref(q.data(), k.data(), v.data(), s, out, abs_sum);
  CHECK(out[0] == Approx(2));
  CHECK(out[1] == Approx(-2));
  CHECK(abs_sum[1] == Approx(4));  // |0.5 x 2| + |0.5 x -6|
}

TEST_CASE("attention reference: softmax weights in closed form, causal chunks after a cached context") {
  // One query over keys with scores 0 and ln 3 (scale 1): weights 1/4 and 3/4.
  std::vector<double> out, abs_sum;
  AttentionShape s{.keys = 2};
  const auto q = bf16({1});
  const auto k = bf16({0, static_cast<float>(std::log(3.0))});
  const auto v = bf16({4, 8});
  attention_ref(q.data(), k.data(), v.data(), s, out, abs_sum);
  const double k1 = moesim::calib::bf16_to_float(k[1]);  // ln 3 rounded to bf16
  const double w1 = std::exp(k1) / (1 + std::exp(k1));
  CHECK(out[0] == Approx(4 * (1 - w1) + 8 * w1));
  // Causal, two queries after one cached key (keys 3): query 0 sees keys 0-1, query 1 all three.
  s.queries = 2;
  s.keys = 3;
  s.causal = true;
  const auto q2 = bf16({0, 0});  // zero queries: uniform weights over what each sees
  const auto k3 = bf16({1, 1, 1});
  const auto v3 = bf16({3, 5, 10});
  attention_ref(q2.data(), k3.data(), v3.data(), s, out, abs_sum);
  CHECK(out[0] == Approx(4));   // (3 + 5) / 2
  CHECK(out[1] == Approx(6));   // (3 + 5 + 10) / 3
  s.queries = 4;                // more queries than keys: not a causal chunk
  CHECK_THROWS_AS(attention_ref(q2.data(), k3.data(), v3.data(), s, out, abs_sum), moesim::Error);
}

TEST_CASE("attention reference: GQA heads share a KV head, MLA absorbed reads the value from the key") {
  std::vector<double> out, abs_sum;
  // 4 query heads over 2 KV heads, one key: heads 0-1 return KV head 0's value, 2-3 head 1's.
  AttentionShape s{.heads = 4, .kv_heads = 2};
  const auto q = bf16({1, 1, 1, 1});
  attention_ref(q.data(), bf16({1, 1}).data(), bf16({7, -7}).data(), s, out, abs_sum);
  CHECK(out == std::vector<double>{7, 7, -7, -7});
  s.heads = 3;  // not a multiple of the KV heads
  CHECK_THROWS_AS(attention_ref(q.data(), q.data(), q.data(), s, out, abs_sum), moesim::Error);

  // MLA absorbed, scaled down: key rows [latent(2) | rope(1)], value = the latent part of the same
  // rows (dv 2, v_row = k_row = 3). Query latent (0, 0), rope 1: scores follow the rope parts.
  const AttentionShape m{.keys = 2, .dk = 3, .dv = 2, .k_row = 3, .v_row = 3};
  const auto kv = bf16({1, 2, 0, 5, 6, static_cast<float>(std::log(3.0))});
  const auto qm = bf16({0, 0, 1});
  attention_ref(qm.data(), kv.data(), kv.data(), m, out, abs_sum);
  const double r = moesim::calib::bf16_to_float(kv[5]);
  const double w = std::exp(r) / (1 + std::exp(r));
  CHECK(out[0] == Approx(1 * (1 - w) + 5 * w));
  CHECK(out[1] == Approx(2 * (1 - w) + 6 * w));
}
