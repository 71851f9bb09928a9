// The fp8 expert FFN's fixture and measured operation (see experts_fp8_op.hpp).
#include "ops/experts_fp8_op.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "bench/expected_bytes.hpp"
#include "kernels/fill.hpp"
#include "kernels/fp8_layout.hpp"
#include "ops/layer_checks.hpp"
#include "reference/host_values.hpp"
#include "reference/reference.hpp"
#include "reference/reference_fp8_gemm.hpp"

namespace moesim::calib {

namespace {

// The input rows' scale in the tensor mode: 448 x 2^-8 = 1.75 covers the inputs' |x| <= 1.
constexpr float kXTensorScale = 1.0f / 256;
// A value v held as q s, q = e4m3(v / s): off by at most half an e4m3 step, 1/16 of |v| for a
// normal q (3 mantissa bits: 1/17 at worst, the rest covers fp32 rounding of v / s) and 2^-10 s
// for a subnormal one (sum_factor 2^-9, one whole step, times abs_sum = s).
constexpr Tolerance kFp8QuantizeTol{1.0 / 16, 1e-6, 1.0 / 512};
// A block's scale: amax / 448 in fp32 (from fp32 SwiGLU values) against float64.
constexpr Tolerance kFp8ScaleTol{1e-5, 0, 0};

double fp8_expert_bytes(const std::vector<int>& counts, int hidden, int ffn) {
  const double h = hidden, f = ffn;
  const double weight_scales =
      4.0 * static_cast<double>(fp8_weight_scale_count(2 * ffn, hidden) + fp8_weight_scale_count(hidden, ffn));
  double bytes = 0;
  for (int n : counts) {
    if (n <= 0) continue;
    const double t = n;
    bytes += 3.0 * h * f + weight_scales            // e4m3 W1 (2F x H) and W2 (H x F) with their block scales
             + t * (h + 4.0 * h / kFp8Block)        // input rows and their scales
             + 2.0 * t * 2.0 * f * 2.0              // gate/up (bf16) written, read by SwiGLU
             + 2.0 * t * (f + 4.0 * f / kFp8Block)  // activation and scales written, read
             + t * h * 2.0;                         // output rows (bf16)
  }
  return bytes;
}

}  // namespace

Fp8Experts::Fp8Experts(const Fp8ExpertsShape& shape, std::int64_t max_padded_rows, std::uint64_t seed,
                       cublasLtHandle_t lt, cudaStream_t stream)
    : shape_(shape), max_rows_(max_padded_rows), seed_(seed), ffn_(lt, shape.experts, shape.hidden, shape.ffn) {
  if (max_rows_ < kFp8RowAlign || max_rows_ % kFp8RowAlign != 0)
    throw Error(fmt::format("Fp8Experts: {} rows is not a positive multiple of {}", max_rows_, kFp8RowAlign));
  const std::size_t e = static_cast<std::size_t>(shape.experts), h = static_cast<std::size_t>(shape.hidden),
                    f = static_cast<std::size_t>(shape.ffn), r = static_cast<std::size_t>(max_rows_);
  w1_.allocate(e * 2 * f * h);
  w2_.allocate(e * h * f);
  w1_scale_.allocate(e * static_cast<std::size_t>(fp8_weight_scale_count(2 * shape.ffn, shape.hidden)));
  w2_scale_.allocate(e * static_cast<std::size_t>(fp8_weight_scale_count(shape.hidden, shape.ffn)));
  x_.allocate(r * h);
  x_scale_.allocate(r * static_cast<std::size_t>(fp8_scale_blocks(shape.hidden)));
  y_.allocate(r * 2 * f);
  act_.allocate(r * f);
  act_scale_.allocate(r * static_cast<std::size_t>(fp8_scale_blocks(shape.ffn)));
  out_.allocate(r * h);
  fill_fp8(w1_.get(), w1_.size(), Fp8Seeds::w1(seed_), stream);
  fill_fp8(w2_.get(), w2_.size(), Fp8Seeds::w2(seed_), stream);
  MOESIM_CUDA_CHECK(cudaStreamSynchronize(stream));
  fill_weight_scales();
}

double Fp8Experts::device_bytes(const Fp8ExpertsShape& s, std::int64_t max_padded_rows) {
  const double e = s.experts, h = s.hidden, f = s.ffn, r = static_cast<double>(max_padded_rows);
  const double scales =
      e * static_cast<double>(fp8_weight_scale_count(2 * s.ffn, s.hidden) + fp8_weight_scale_count(s.hidden, s.ffn)) +
      r * (fp8_scale_blocks(s.hidden) + fp8_scale_blocks(s.ffn));
  return 3.0 * e * h * f + 4.0 * scales + r * (h + 2 * 2 * f + f + 2 * h) + ExpertFfnFp8::workspace_bytes();
}

float Fp8Experts::weight_scale(int which, int expert, int nb, int kb) const {
  const int k = which == 0 ? shape_.hidden : shape_.ffn;
  if (ffn_.scale_mode() == Fp8ScaleMode::Tensor) return std::ldexp(1.0f, fan_in_exp2(k));
  const std::uint64_t index =
      ((static_cast<std::uint64_t>(which) * 1048576u + static_cast<std::uint64_t>(expert)) * 65536u +
       static_cast<std::uint64_t>(nb)) *
          65536u +
      static_cast<std::uint64_t>(kb);
  const int step = static_cast<int>(value_hash(Fp8Seeds::scales(seed_), index) % 3) - 1;
  return std::ldexp(1.0f, fan_in_exp2(k) + step);  // a power of two: dequantised weights stay exact
}

float Fp8Experts::x_tensor_scale() const { return ffn_.scale_mode() == Fp8ScaleMode::Tensor ? kXTensorScale : 0.0f; }

void Fp8Experts::fill_weight_scales() {
  for (int which = 0; which < 2; ++which) {
    const int m = which == 0 ? 2 * shape_.ffn : shape_.hidden, k = which == 0 ? shape_.hidden : shape_.ffn;
    const int ld = fp8_weight_scale_ld(k), kb_used = fp8_scale_blocks(k), nbs = fp8_scale_blocks(m);
    std::vector<float> host(static_cast<std::size_t>(shape_.experts) * static_cast<std::size_t>(nbs) * ld, 0.0f);
    for (int e = 0; e < shape_.experts; ++e)
      for (int nb = 0; nb < nbs; ++nb)
        for (int kb = 0; kb < kb_used; ++kb)  // the padding to 4 stays 0: never read
          host[(static_cast<std::size_t>(e) * nbs + nb) * ld + kb] = weight_scale(which, e, nb, kb);
    (which == 0 ? w1_scale_ : w2_scale_).upload(host);
  }
  filled_mode_ = ffn_.scale_mode();
}

void Fp8Experts::set_counts(const std::vector<int>& counts, cudaStream_t stream) {
  const std::vector<int> first = ExpertFfnFp8::padded_first_rows(counts);
  if (first.back() > max_rows_)
    throw Error(
        fmt::format("Fp8Experts: the counts need {} padded rows, the buffers hold {}", first.back(), max_rows_));
  counts_ = counts;
  ffn_.plan(counts, {w1_.get(), w1_scale_.get(), w2_.get(), w2_scale_.get(), x_.get(), x_scale_.get(), y_.get(),
                     act_.get(), act_scale_.get(), out_.get()});
  if (ffn_.scale_mode() != filled_mode_) fill_weight_scales();  // the tensor mode needs equal scales
  const std::int64_t rows = ffn_.padded_rows();
  if (rows == 0) return;
  // The output buffer ([rows][H] bf16 too) stages the bf16 input rows; the FFN overwrites it.
  fill_bf16(out_.get(), static_cast<std::size_t>(rows) * static_cast<std::size_t>(shape_.hidden), Fp8Seeds::x(seed_),
            Fp8Seeds::kInputExp2, stream);
  launch_quantize_fp8(out_.get(), rows, shape_.hidden, ffn_.row_groups(), x_tensor_scale(), x_.get(), x_scale_.get(),
                      stream);
  MOESIM_CUDA_CHECK(cudaStreamSynchronize(stream));
}

namespace {

class ExpertsFp8Op final : public Operation {
 public:
  explicit ExpertsFp8Op(Fp8Experts& experts) : experts_(experts) {}
  std::string name() const override { return "experts fp8"; }
  double bytes() const override {
    return fp8_expert_bytes(experts_.counts(), experts_.shape().hidden, experts_.shape().ffn);
  }
  double flops() const override {
    return expert_flops(experts_.counts(), experts_.shape().hidden, experts_.shape().ffn);
  }
  void run(std::span<const cudaStream_t> streams) override { experts_.ffn().run(streams[0]); }
  Verification verify() override;

 private:
  // Checks q [rows][cols] e4m3 with scales [rows][cols / 128] (reference layout) against the
  // float64 values want [rows][cols]: each scale (amax / 448, or the tensor scale) and each value.
  static void check_quantized(const std::vector<std::uint8_t>& q, const std::vector<float>& scales,
                              const std::vector<double>& want, int cols, float tensor_scale, CompareResult& values,
                              CompareResult& scale_check);
  Fp8Experts& experts_;
};

void ExpertsFp8Op::check_quantized(const std::vector<std::uint8_t>& q, const std::vector<float>& scales,
                                   const std::vector<double>& want, int cols, float tensor_scale, CompareResult& values,
                                   CompareResult& scale_check) {
  const int blocks = fp8_scale_blocks(cols);
  const std::size_t rows = want.size() / static_cast<std::size_t>(cols);
  std::vector<double> got, ref, allowed_by;
  for (std::size_t r = 0; r < rows; ++r)
    for (int b = 0; b < blocks; ++b) {
      const std::size_t at = r * static_cast<std::size_t>(cols) + static_cast<std::size_t>(b) * kFp8Block;
      const double s = scales[r * static_cast<std::size_t>(blocks) + static_cast<std::size_t>(b)];
      double amax = 0;
      for (int c = 0; c < kFp8Block; ++c) amax = std::max(amax, std::fabs(want[at + c]));
      const double want_s = tensor_scale > 0 ? tensor_scale : (amax > 0 ? amax / kFp8E4m3Max : 1.0);
      merge_compare(scale_check, compare_values(std::vector<double>{s}, std::vector<double>{want_s}, {}, kFp8ScaleTol));
      got.clear();
      ref.clear();
      allowed_by.clear();
      for (int c = 0; c < kFp8Block; ++c) {
        got.push_back(fp8_e4m3_to_double(q[at + c]) * s);
        ref.push_back(std::clamp(want[at + c], -kFp8E4m3Max * s, kFp8E4m3Max * s));  // saturation
        allowed_by.push_back(s);
      }
      merge_compare(values, compare_values(got, ref, allowed_by, kFp8QuantizeTol));
    }
}

Verification ExpertsFp8Op::verify() {
  const Fp8ExpertsShape& s = experts_.shape();
  const ExpertFfnFp8& ffn = experts_.ffn();
  const std::vector<int>& counts = experts_.counts();
  const std::vector<int>& first = ffn.first_rows();
  const int h = s.hidden, f = s.ffn, hb = fp8_scale_blocks(h), fb = fp8_scale_blocks(f);
  const std::size_t hs = static_cast<std::size_t>(h), fs = static_cast<std::size_t>(f);
  std::vector<int> active;
  for (int e = 0; e < s.experts; ++e)
    if (counts[e] > 0) active.push_back(e);
  if (active.empty()) return {0, 1, "experts fp8: no expert has rows"};
  const auto by_load = [&](int a, int c) { return counts[a] < counts[c]; };
  std::vector<int> sample{*std::max_element(active.begin(), active.end(), by_load),
                          *std::min_element(active.begin(), active.end(), by_load), active.front(), active.back()};
  std::sort(sample.begin(), sample.end());
  sample.erase(std::unique(sample.begin(), sample.end()), sample.end());
  Verification weights;
  const auto weight_fail = [&](bool bad, const std::string& what) {
    ++weights.checked;
    if (bad && weights.wrong++ == 0) weights.detail = "experts fp8: " + what;
  };
  CompareResult xq, xs, up, aq, as, down;
  for (int e : sample) {
    const std::size_t es = static_cast<std::size_t>(e);
    const std::vector<std::uint8_t> w1 = experts_.w1().to_host(2 * fs * hs, es * 2 * fs * hs);
    const std::vector<std::uint8_t> w2 = experts_.w2().to_host(hs * fs, es * hs * fs);
    for (std::size_t i : {std::size_t{0}, w1.size() / 2, w1.size() - 1})
      weight_fail(w1[i] != fp8_test_value(Fp8Seeds::w1(experts_.seed()), es * 2 * fs * hs + i),
                  fmt::format("W1 of expert {} differs from its generated values at {}", e, i));
    weight_fail(w2.back() != fp8_test_value(Fp8Seeds::w2(experts_.seed()), es * hs * fs + w2.size() - 1),
                fmt::format("W2 of expert {} differs from its generated values", e));
    // The weight scales from the cuBLASLt layout ([n/128][ld]) to the reference's [n/128][k/128].
    std::vector<float> ws[2];
    for (int which = 0; which < 2; ++which) {
      const int m = which == 0 ? 2 * f : h, k = which == 0 ? h : f, nbs = fp8_scale_blocks(m);
      const std::size_t count = static_cast<std::size_t>(fp8_weight_scale_count(m, k));
      const std::vector<float> dev =
          (which == 0 ? experts_.w1_scale() : experts_.w2_scale()).to_host(count, es * count);
      for (int nb = 0; nb < nbs; ++nb)
        for (int kb = 0; kb < fp8_scale_blocks(k); ++kb) {
          const float v = dev[static_cast<std::size_t>(fp8_weight_scale_index(nb * kFp8Block, kb * kFp8Block, k))];
          weight_fail(v != experts_.weight_scale(which, e, nb, kb),
                      fmt::format("W{} scale ({}, {}) of expert {} is {}", which + 1, nb, kb, e, v));
          ws[which].push_back(v);
        }
    }
    // The sampled rows and their scales (grouped VEC128 layout -> the reference's [rows][k/128]).
    const std::int64_t g0 = first[es], size = first[es + 1] - g0;
    const std::vector<float> xs_dev =
        experts_.x_scale().to_host(static_cast<std::size_t>(size * hb), static_cast<std::size_t>(g0 * hb));
    const std::vector<float> as_dev =
        experts_.act_scale().to_host(static_cast<std::size_t>(size * fb), static_cast<std::size_t>(g0 * fb));
    std::vector<std::uint8_t> x, act;
    std::vector<std::uint16_t> y, out;
    std::vector<float> x_scale, act_scale;
    std::vector<double> x_want;
    const std::vector<int> rows = spread(counts[e], 3);
    for (int j : rows) {
      const std::int64_t row = g0 + j;
      const std::size_t rs = static_cast<std::size_t>(row);
      const auto append = [](auto& to, const auto& from) { to.insert(to.end(), from.begin(), from.end()); };
      append(x, experts_.x().to_host(hs, rs * hs));
      append(y, experts_.y().to_host(2 * fs, rs * 2 * fs));
      append(act, experts_.act().to_host(fs, rs * fs));
      append(out, experts_.out().to_host(hs, rs * hs));
      append(x_want, to_double(regenerate(Fp8Seeds::x(experts_.seed()), rs * hs, hs, Fp8Seeds::kInputExp2)));
      for (int b = 0; b < hb; ++b)
        x_scale.push_back(xs_dev[static_cast<std::size_t>(fp8_act_scale_index(g0, size, hb, row, b) - g0 * hb)]);
      for (int b = 0; b < fb; ++b)
        act_scale.push_back(as_dev[static_cast<std::size_t>(fp8_act_scale_index(g0, size, fb, row, b) - g0 * fb)]);
    }
    const int n = static_cast<int>(rows.size());
    check_quantized(x, x_scale, x_want, h, experts_.x_tensor_scale(), xq, xs);
    // Each step from the GPU's own inputs: gate/up from its fp8 rows, SwiGLU from its gate/up rows,
    // down from its fp8 activation.
    std::vector<double> want, sums;
    fp8_grouped_gemm_ref({2 * f, h, {0, n}, x.data(), x_scale.data(), w1.data(), ws[0].data()}, want, sums);
    merge_compare(up, compare_values(to_double(y), want, sums, kFp8GemmTol));
    swiglu_ref(y.data(), n, f, want);
    check_quantized(act, act_scale, want, f, ffn.act_tensor_scale(), aq, as);
    fp8_grouped_gemm_ref({h, f, {0, n}, act.data(), act_scale.data(), w2.data(), ws[1].data()}, want, sums);
    merge_compare(down, compare_values(to_double(out), want, sums, kFp8GemmTol));
  }
  const Verification parts[] = {
      verification_of(xq, "input quantisation"),  verification_of(xs, "input scales"),  verification_of(up, "gate/up"),
      verification_of(aq, "SwiGLU quantisation"), verification_of(as, "SwiGLU scales"), verification_of(down, "down")};
  Verification v{weights.checked, weights.wrong, weights.detail};
  std::string summary =
      fmt::format("experts fp8 ({} scales, {} experts sampled)", fp8_scale_mode_name(ffn.scale_mode()), sample.size());
  for (const Verification& p : parts) {
    v.checked += p.checked;
    v.wrong += p.wrong;
    summary += "; " + p.detail;
  }
  v.detail = weights.wrong > 0 ? weights.detail + "; " + summary : summary;
  return v;
}

}  // namespace

std::unique_ptr<Operation> make_experts_fp8_op(Fp8Experts& experts) { return std::make_unique<ExpertsFp8Op>(experts); }

}  // namespace moesim::calib
