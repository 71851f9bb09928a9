// Checks of each MoE-layer phase against the CPU references (see moe_layer.hpp). Large phases are
// checked on samples (rows spread over tokens and experts, corners included) so a check never
// costs more than a few seconds of CPU; the top-k and the permute layout are checked in full.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bench/cuda_check.hpp"
#include "kernels/checks.hpp"
#include "kernels/host_values.hpp"
#include "kernels/moe_layer.hpp"
#include "kernels/reference.hpp"

namespace moesim::calib {

namespace {

// Up to `n` indices in [0, size): first, last, and evenly spread between.
std::vector<int> spread(int size, int n) {
  std::vector<int> out;
  if (size <= 0) return out;
  if (size <= n) {
    for (int i = 0; i < size; ++i) out.push_back(i);
    return out;
  }
  for (int i = 0; i < n; ++i) out.push_back(static_cast<int>(static_cast<long long>(i) * (size - 1) / (n - 1)));
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::uint16_t> regenerate(std::uint64_t seed, std::size_t first, std::size_t n, int exp2) {
  std::vector<std::uint16_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = bf16_test_value(seed, first + i, exp2);
  return v;
}

std::vector<double> to_double(const std::vector<std::uint16_t>& bits) {
  std::vector<double> out(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) out[i] = bf16_to_float(bits[i]);
  return out;
}

std::string require(const CompareResult& r, const std::string& what) {
  if (!r.ok()) throw VerifyError(r.describe(what));
  return r.describe(what);
}

}  // namespace

std::string MoeLayer::verify_router() const {
  const int h = shape_.hidden, e = shape_.experts;
  const std::vector<std::uint16_t> w = regenerate(LayerSeeds::router(seed_), 0, static_cast<std::size_t>(e) * h,
                                                  -6 + fan_in_exp2(h));
  CompareResult all;
  for (int t : spread(tokens(), 16)) {
    const std::vector<std::uint16_t> x = regenerate(LayerSeeds::x(seed_), static_cast<std::size_t>(t) * h, h, -6);
    std::vector<double> want, sums;
    matmul_abt_ref(x.data(), 1, w.data(), e, h, want, sums);
    const std::vector<float> got = logits_.to_host(e, static_cast<std::size_t>(t) * e);
    merge_compare(all, compare_values(std::vector<double>(got.begin(), got.end()), want, sums, kFp32GemmTol));
  }
  return require(all, "router GEMM logits");
}

std::string MoeLayer::verify_topk() const {
  const std::size_t t = static_cast<std::size_t>(tokens()), k = static_cast<std::size_t>(shape_.top_k);
  const std::vector<float> logits = logits_.to_host(t * shape_.experts);
  const std::vector<std::int32_t> ids = gate_ids_.to_host(t * k);
  const std::vector<float> w = gate_w_.to_host(t * k);
  const TopkCheck c = check_topk(logits.data(), bias_host_.data(), tokens(), shape_.gate, ids.data(), w.data());
  if (!c.ok()) throw VerifyError(gate_kind_name(shape_.gate.kind) + " " + c.describe());
  return gate_kind_name(shape_.gate.kind) + " " + c.describe();
}

std::string MoeLayer::verify_permute() const {
  const int t = tokens(), k = shape_.top_k, h = shape_.hidden;
  const std::vector<int> offsets = offsets_.to_host(static_cast<std::size_t>(shape_.experts) + 1);
  const std::vector<int> rows = perm_row_.to_host(static_cast<std::size_t>(t) * k);
  const std::string layout = check_permute_layout(routing_.ids.data(), t, k, shape_.experts, offsets, rows);
  if (!layout.empty()) throw VerifyError("permute layout: " + layout);
  int checked = 0;
  for (int a : spread(t * k, 256)) {
    const int token = a / k;
    const std::vector<std::uint16_t> want = regenerate(LayerSeeds::x(seed_), static_cast<std::size_t>(token) * h, h, -6);
    const std::vector<std::uint16_t> got = x_perm_.to_host(h, static_cast<std::size_t>(rows[a]) * h);
    if (got != want)
      throw VerifyError(fmt::format("permute: row {} (token {}, copy {}) differs from the token's input", rows[a],
                                    token, a % k));
    ++checked;
  }
  return fmt::format("permute: layout of {} rows valid, {} rows bit-exact", t * k, checked);
}

std::string MoeLayer::verify_experts() const {
  const int h = shape_.hidden, f = shape_.ffn;
  // Experts to sample: the busiest, the least busy with tokens, and the first and last with tokens.
  std::vector<int> active;
  for (int e = 0; e < shape_.experts; ++e)
    if (counts_[e] > 0) active.push_back(e);
  if (active.empty()) throw VerifyError("experts: the routing gives no expert any token");
  const auto busiest = *std::max_element(active.begin(), active.end(), [&](int a, int b) { return counts_[a] < counts_[b]; });
  const auto idlest = *std::min_element(active.begin(), active.end(), [&](int a, int b) { return counts_[a] < counts_[b]; });
  std::vector<int> sample{busiest, idlest, active.front(), active.back()};
  std::sort(sample.begin(), sample.end());
  sample.erase(std::unique(sample.begin(), sample.end()), sample.end());
  std::vector<int> first(shape_.experts + 1, 0);
  for (int e = 0; e < shape_.experts; ++e) first[e + 1] = first[e] + counts_[e];
  CompareResult up, act, down;
  for (int e : sample) {
    const std::size_t es = static_cast<std::size_t>(e);
    const std::vector<std::uint16_t> w1 = w1_.to_host(2 * static_cast<std::size_t>(f) * h, es * 2 * f * h);
    const std::vector<std::uint16_t> w2 = w2_.to_host(static_cast<std::size_t>(h) * f, es * h * f);
    // The weights on the device are the generated ones (spot check), so nothing here times zeros.
    for (std::size_t i : {std::size_t{0}, w1.size() / 2, w1.size() - 1})
      if (w1[i] != bf16_test_value(LayerSeeds::w1(seed_), es * 2 * f * h + i, -6 + fan_in_exp2(h)))
        throw VerifyError(fmt::format("experts: W1 of expert {} differs from its generated values at {}", e, i));
    for (int r : spread(counts_[e], 3)) {
      const std::size_t row = static_cast<std::size_t>(first[e] + r);
      const std::vector<std::uint16_t> x = x_perm_.to_host(h, row * h);
      const std::vector<std::uint16_t> y = y_.to_host(2 * static_cast<std::size_t>(f), row * 2 * f);
      const std::vector<std::uint16_t> a = act_.to_host(f, row * f);
      const std::vector<std::uint16_t> o = out_perm_.to_host(h, row * h);
      std::vector<double> want, sums;
      matmul_abt_ref(x.data(), 1, w1.data(), 2 * f, h, want, sums);  // each op checked from the GPU's own input
      merge_compare(up, compare_values(to_double(y), want, sums, kBf16GemmTol));
      swiglu_ref(y.data(), 1, f, want);
      merge_compare(act, compare_values(to_double(a), want, {}, kBf16ElementwiseTol));
      matmul_abt_ref(a.data(), 1, w2.data(), h, f, want, sums);
      merge_compare(down, compare_values(to_double(o), want, sums, kBf16GemmTol));
    }
  }
  return fmt::format("experts ({} GEMMs, {} experts sampled): {}; {}; {}", gemm_mode_name(ffn_.mode()), sample.size(),
                     require(up, "gate/up"), require(act, "SwiGLU"), require(down, "down"));
}

std::string MoeLayer::verify_swiglu() const {
  const int f = shape_.ffn;
  CompareResult all;
  for (int r : spread(static_cast<int>(ffn_.rows()), 32)) {
    const std::size_t row = static_cast<std::size_t>(r);
    const std::vector<std::uint16_t> y = y_.to_host(2 * static_cast<std::size_t>(f), row * 2 * f);
    std::vector<double> want;
    swiglu_ref(y.data(), 1, f, want);
    merge_compare(all, compare_values(to_double(act_.to_host(f, row * f)), want, {}, kBf16ElementwiseTol));
  }
  return require(all, "SwiGLU");
}

std::string MoeLayer::verify_combine() const {
  const int t = tokens(), k = shape_.top_k, h = shape_.hidden;
  const std::vector<int> rows = perm_row_.to_host(static_cast<std::size_t>(t) * k);
  CompareResult all;
  std::vector<std::vector<std::uint16_t>> expert_rows(k);
  std::vector<const std::uint16_t*> ptrs(k);
  std::vector<double> want(h), sums(h);
  for (int token : spread(t, 64)) {
    for (int j = 0; j < k; ++j) {
      expert_rows[j] = out_perm_.to_host(h, static_cast<std::size_t>(rows[static_cast<std::size_t>(token) * k + j]) * h);
      ptrs[j] = expert_rows[j].data();
    }
    combine_row_ref(ptrs.data(), routing_.weights.data() + static_cast<std::size_t>(token) * k, k, h, want.data(),
                    sums.data());
    merge_compare(all, compare_values(to_double(out_.to_host(h, static_cast<std::size_t>(token) * h)), want, sums,
                                      kBf16CombineTol));
  }
  return require(all, "combine");
}

std::string MoeLayer::verify_output() const {
  if (saved_output_.empty()) throw Error("verify_output: no saved output (run the phases and save_output first)");
  const std::vector<double> want = to_double(saved_output_);
  const std::vector<double> got = to_double(out_.to_host(saved_output_.size()));
  // Rows may sit elsewhere inside an expert (the permute's atomics), so allow a few bf16 steps of
  // the output's typical size besides the relative bound.
  double square = 0;
  for (double v : want) square += v * v;
  const double rms = std::sqrt(square / static_cast<double>(want.size()));
  const Tolerance tol{1.0 / 128, rms / 64, 0};
  return require(compare_values(got, want, {}, tol), "whole layer vs phase by phase");
}

}  // namespace moesim::calib
