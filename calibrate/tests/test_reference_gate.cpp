// CPU reference of the two top-k gates on hand-checked inputs, and the GPU-result check built on it.
#include <catch2/catch.hpp>

#include <vector>

#include "core/error.hpp"
#include "reference/checks.hpp"
#include "reference/reference.hpp"

using namespace moesim::calib;

namespace {

GateConfig softmax_gate(int experts, int k, bool normalize) {
  GateConfig c;
  c.experts = experts;
  c.top_k = k;
  c.normalize = normalize;
  return c;
}

// 8 experts in 4 groups of 2, top-2 groups, top-2 experts, scaling 2.5 (DeepSeek-V3's rules).
GateConfig sigmoid_gate() {
  GateConfig c;
  c.kind = GateKind::SigmoidGroupTopk;
  c.experts = 8;
  c.top_k = 2;
  c.n_group = 4;
  c.topk_group = 2;
  c.scaling = 2.5f;
  return c;
}

// Logits per group: g0 {1, 0.9}, g1 {4, -4}, g2 {0.5, 0}, g3 {3, -1}. Sigmoid scores:
// g0 {0.731059, 0.710950} sum 1.442008; g1 {0.982014, 0.017986} sum 1.0;
// g2 {0.622459, 0.5} sum 1.122459; g3 {0.952574, 0.268941} sum 1.221516.
const std::vector<float> kGroupLogits{1.0f, 0.9f, 4.0f, -4.0f, 0.5f, 0.0f, 3.0f, -1.0f};

}  // namespace

TEST_CASE("softmax top-k picks the largest logits") {
  const std::vector<float> logits{1, 3, 2, 0};
  // Renormalised over the two selected: e^3 / (e^3 + e^2) = 0.731059, e^2 / (e^3 + e^2) = 0.268941.
  const TopkRef n = topk_ref(logits.data(), nullptr, 1, softmax_gate(4, 2, true));
  CHECK(n.ids == std::vector<int>{1, 2});
  CHECK(n.weights[0] == Approx(0.7310585786));
  CHECK(n.weights[1] == Approx(0.2689414214));
  CHECK(n.margin[0] == Approx(1.0));  // logit 2 (selected) vs 1 (first left out)
  // Plain softmax probabilities: e^3 / (1 + e + e^2 + e^3) = 0.643914, e^2 / (...) = 0.236883.
  const TopkRef p = topk_ref(logits.data(), nullptr, 1, softmax_gate(4, 2, false));
  CHECK(p.weights[0] == Approx(0.6439142599));
  CHECK(p.weights[1] == Approx(0.2368828181));
}

TEST_CASE("softmax top-k breaks ties towards the lower expert id") {
  const std::vector<float> logits{2, 2, 1, 2};
  const TopkRef r = topk_ref(logits.data(), nullptr, 1, softmax_gate(4, 2, true));
  CHECK(r.ids == std::vector<int>{0, 1});
  CHECK(r.margin[0] == 0);
}

TEST_CASE("sigmoid group-limited top-k keeps to the best groups") {
  // Group scores (sum of the top two): g0 1.442 > g3 1.2215 > g2 1.1225 > g1 1.0: groups 0 and 3.
  // Expert 2 has the best score (0.982) but its group is out. Among {0, 1, 6, 7}: 6 (0.952574),
  // 0 (0.731059). Weights: s / (s6 + s0) * 2.5 = 1.414462, 1.085538. Margin: min(group gap
  // 1.221516 - 1.122459 = 0.099056, expert gap 0.731059 - 0.710950 = 0.020109).
  const TopkRef r = topk_ref(kGroupLogits.data(), nullptr, 1, sigmoid_gate());
  CHECK(r.ids == std::vector<int>{6, 0});
  CHECK(r.weights[0] == Approx(1.4144624949));
  CHECK(r.weights[1] == Approx(1.0855375051));
  CHECK(r.margin[0] == Approx(0.0201090760).epsilon(1e-5));
}

TEST_CASE("the correction bias steers selection but not the weights") {
  // Bias +0.5 on expert 7: its choice score 0.268941 + 0.5 = 0.768941 lifts group 3 to 1.721516 and
  // beats expert 0 (0.731059). Weights from the unbiased scores: 0.952574 / (0.952574 + 0.268941) * 2.5
  // = 1.949574 and 0.268941 / (...) * 2.5 = 0.550426.
  std::vector<float> bias(8, 0.0f);
  bias[7] = 0.5f;
  const TopkRef r = topk_ref(kGroupLogits.data(), bias.data(), 1, sigmoid_gate());
  CHECK(r.ids == std::vector<int>{6, 7});
  CHECK(r.weights[0] == Approx(1.9495742977));
  CHECK(r.weights[1] == Approx(0.5504257023));
}

TEST_CASE("the top-k check accepts the reference and rejects wrong choices or weights") {
  const GateConfig c = sigmoid_gate();
  std::vector<std::int32_t> ids{0, 6};  // the reference's set in another order
  std::vector<float> w{1.0855375f, 1.4144625f};
  CHECK(check_topk(kGroupLogits.data(), nullptr, 1, c, ids.data(), w.data()).ok());
  CHECK(check_topk(kGroupLogits.data(), nullptr, 1, c, ids.data(), w.data()).exact == 1);
  std::vector<std::int32_t> wrong{2, 6};  // expert 2's group was not selected
  const TopkCheck bad = check_topk(kGroupLogits.data(), nullptr, 1, c, wrong.data(), w.data());
  CHECK_FALSE(bad.ok());
  CHECK(bad.failures == 1);
  CHECK(bad.wrong() == 1);
  std::vector<std::int32_t> repeated{6, 6};
  CHECK_FALSE(check_topk(kGroupLogits.data(), nullptr, 1, c, repeated.data(), w.data()).ok());
  std::vector<float> off{1.0855375f, 1.5f};
  CHECK_FALSE(check_topk(kGroupLogits.data(), nullptr, 1, c, ids.data(), off.data()).ok());
}

TEST_CASE("the top-k check counts a flip inside a near tie as a tie, not a failure") {
  // Experts 0, 1 and 3 tie at logit 2: either of 0 / 1 / 3 as the second pick is a tie (margin 0).
  const std::vector<float> logits{2, 2, 1, 2, 5, 0, 0, 0};
  const GateConfig c = softmax_gate(8, 2, true);
  std::vector<std::int32_t> ids{4, 3};
  std::vector<double> want(2);
  topk_weights_for(logits.data(), c, ids.data(), want.data());
  std::vector<float> w{static_cast<float>(want[0]), static_cast<float>(want[1])};
  const TopkCheck r = check_topk(logits.data(), nullptr, 1, c, ids.data(), w.data());
  CHECK(r.near_ties == 1);
  CHECK(r.failures == 0);
  CHECK(r.wrong() == 0);  // 1 + tokens / 100 = 1 near tie allowed
  // 250 tokens allow 1 + 2 = 3 near ties: 5 ties and 1 failure are 2 + 1 = 3 wrong tokens.
  TopkCheck many;
  many.tokens = 250;
  many.near_ties = 5;
  many.failures = 1;
  CHECK(many.wrong() == 3);
  CHECK_FALSE(many.ok());
}

TEST_CASE("gate configurations the kernel cannot run are refused") {
  GateConfig c = sigmoid_gate();
  CHECK_NOTHROW(validate_gate_config(c));
  c.n_group = 3;  // 8 experts do not split into 3 groups
  CHECK_THROWS_AS(validate_gate_config(c), moesim::InputError);
  c = sigmoid_gate();
  c.top_k = 5;  // more than topk_group * 2 experts per group = 4
  CHECK_THROWS_AS(validate_gate_config(c), moesim::InputError);
  CHECK_THROWS_AS(validate_gate_config(softmax_gate(1024, 8, true)), moesim::InputError);
  CHECK_THROWS_AS(validate_gate_config(softmax_gate(8, 9, true)), moesim::InputError);
  CHECK(parse_gate_kind("sigmoid") == GateKind::SigmoidGroupTopk);
  CHECK(gate_kind_name(GateKind::SoftmaxTopk) == "softmax_topk");
  CHECK_THROWS_AS(parse_gate_kind("relu"), moesim::InputError);
}
