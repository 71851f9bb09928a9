// The single-GPU MoE layer fixture: buffers, test inputs and the phases (see moe_layer.hpp).
#include "ops/moe_layer.hpp"

#include <fmt/format.h>

#include <random>

#include "kernels/combine.hpp"
#include "kernels/fill.hpp"
#include "kernels/gate_topk.hpp"
#include "kernels/permute.hpp"
#include "kernels/router_gemm.hpp"
#include "reference/host_values.hpp"

namespace moesim::calib {

namespace {

// The layer's shape must suit the kernels; the ids of a routing must fit the shape.
void check_shape(const LayerShape& s, int max_tokens) {
  if (s.hidden < 8 || s.hidden % 8 || s.ffn < 8 || s.ffn % 8 || s.experts < 2 || s.experts > 512 || s.top_k < 1 ||
      s.top_k > 32 || s.top_k > s.experts || max_tokens < 1)
    throw InputError(
        fmt::format("MoE layer shape hidden {} ffn {} experts {} top_k {} tokens {}: hidden and ffn "
                    "multiples of 8, 2..512 experts, top_k 1..min(32, experts), >= 1 token",
                    s.hidden, s.ffn, s.experts, s.top_k, max_tokens));
  if (s.gate.experts != s.experts || s.gate.top_k != s.top_k)
    throw Error("MoE layer: gate config differs from the shape");
}

}  // namespace

double MoeLayer::device_bytes(const LayerShape& s, int max_tokens) {
  const double t = std::max(max_tokens, 1), h = s.hidden, e = s.experts, k = s.top_k, f = s.ffn;
  const double bf16 = 2, f32 = 4;
  return bf16 * (t * h + e * h + e * 3 * f * h + t * k * h * 2 + t * k * 3 * f + t * h)  // x, router, experts, rows
         + f32 * (e + t * e + 2 * t * k) + f32 * (3 * t * k + 3 * e + 2);                // logits, weights, indices
}

MoeLayer::MoeLayer(const LayerShape& shape, int max_tokens, GemmMode mode, std::uint64_t seed, cublasHandle_t handle,
                   cudaStream_t stream)
    : shape_(shape),
      max_tokens_(max_tokens),
      seed_(seed),
      handle_(handle),
      ffn_(handle, shape.experts, shape.hidden, shape.ffn, mode) {
  check_shape(shape_, max_tokens_);
  const std::size_t t = static_cast<std::size_t>(max_tokens_), h = static_cast<std::size_t>(shape_.hidden),
                    e = static_cast<std::size_t>(shape_.experts), k = static_cast<std::size_t>(shape_.top_k),
                    f = static_cast<std::size_t>(shape_.ffn);
  b_.x.allocate(t * h);
  b_.router_w.allocate(e * h);
  b_.w1.allocate(e * 2 * f * h);
  b_.w2.allocate(e * h * f);
  b_.x_perm.allocate(t * k * h);
  b_.y.allocate(t * k * 2 * f);
  b_.act.allocate(t * k * f);
  b_.out_perm.allocate(t * k * h);
  b_.out.allocate(t * h);
  b_.bias.allocate(e);
  b_.logits.allocate(t * e);
  b_.gate_w.allocate(t * k);
  b_.route_w.allocate(t * k);
  b_.gate_ids.allocate(t * k);
  b_.route_ids.allocate(t * k);
  b_.perm_row.allocate(t * k);
  b_.scratch.allocate(static_cast<std::size_t>(permute_scratch_ints(shape_.experts)));
  b_.offsets.allocate(e + 1);
  const int in = LayerSeeds::kInputExp2;
  fill_bf16(b_.x.get(), b_.x.size(), LayerSeeds::x(seed_), in, stream);
  fill_bf16(b_.router_w.get(), b_.router_w.size(), LayerSeeds::router(seed_), in + fan_in_exp2(shape_.hidden), stream);
  fill_bf16(b_.w1.get(), b_.w1.size(), LayerSeeds::w1(seed_), in + fan_in_exp2(shape_.hidden), stream);
  fill_bf16(b_.w2.get(), b_.w2.size(), LayerSeeds::w2(seed_), in + fan_in_exp2(shape_.ffn), stream);
  // DeepSeek-V3's e_score_correction_bias: small per-expert offsets (selection only).
  std::mt19937_64 rng(seed_ ^ 0xB1A5ull);
  std::uniform_real_distribution<float> u(-0.05f, 0.05f);
  bias_host_.resize(e);
  for (float& b : bias_host_) b = u(rng);
  b_.bias.upload(bias_host_);
  MOESIM_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void MoeLayer::set_routing(const Routing& r) {
  if (r.experts != shape_.experts || r.top_k != shape_.top_k || r.tokens < 1 || r.tokens > max_tokens_ ||
      r.ids.size() != static_cast<std::size_t>(r.tokens) * r.top_k || r.weights.size() != r.ids.size())
    throw Error(
        fmt::format("MoE layer: routing of {} tokens (top-{} of {}) does not fit the layer (top-{} of {}, "
                    "up to {} tokens)",
                    r.tokens, r.top_k, r.experts, shape_.top_k, shape_.experts, max_tokens_));
  for (std::int32_t id : r.ids)
    if (id < 0 || id >= shape_.experts) throw InputError(fmt::format("routing: expert id {} out of range", id));
  routing_ = r;
  counts_ = r.counts();
  b_.route_ids.upload(r.ids);
  b_.route_w.upload(r.weights);
  ffn_.plan(counts_, b_.w1.get(), b_.w2.get(), b_.x_perm.get(), b_.y.get(), b_.act.get(), b_.out_perm.get());
}

void MoeLayer::set_gate(const GateConfig& gate) {
  if (gate.experts != shape_.experts || gate.top_k != shape_.top_k) throw Error("set_gate: experts / top_k differ");
  validate_gate_config(gate);
  shape_.gate = gate;
}

void MoeLayer::set_gemm_mode(GemmMode mode) {
  ffn_ = ExpertFfn(handle_, shape_.experts, shape_.hidden, shape_.ffn, mode);
  if (!routing_.ids.empty())
    ffn_.plan(counts_, b_.w1.get(), b_.w2.get(), b_.x_perm.get(), b_.y.get(), b_.act.get(), b_.out_perm.get());
}

void MoeLayer::router_gemm(cudaStream_t s) {
  calib::router_gemm(handle_, b_.x.get(), b_.router_w.get(), tokens(), shape_.hidden, shape_.experts, b_.logits.get(),
                     s);
}

void MoeLayer::topk(cudaStream_t s) {
  launch_topk(b_.logits.get(), b_.bias.get(), tokens(), shape_.gate, b_.gate_ids.get(), b_.gate_w.get(), s);
}

void MoeLayer::gate(cudaStream_t s) {
  router_gemm(s);
  topk(s);
}

void MoeLayer::permute(cudaStream_t s) {
  launch_permute(b_.x.get(), b_.route_ids.get(), tokens(), shape_.hidden, shape_.top_k, shape_.experts,
                 b_.scratch.get(), b_.offsets.get(), b_.perm_row.get(), b_.x_perm.get(), s);
}

void MoeLayer::experts(cudaStream_t s) { ffn_.run(s); }

void MoeLayer::swiglu(cudaStream_t s) { ffn_.run_swiglu(s); }

void MoeLayer::combine(cudaStream_t s) {
  launch_combine(b_.out_perm.get(), b_.perm_row.get(), b_.route_w.get(), tokens(), shape_.hidden, shape_.top_k,
                 b_.out.get(), s);
}

void MoeLayer::layer(cudaStream_t s) {
  gate(s);
  permute(s);
  experts(s);
  combine(s);
}

void MoeLayer::save_output() { saved_output_ = b_.out.to_host(static_cast<std::size_t>(tokens()) * shape_.hidden); }

}  // namespace moesim::calib
