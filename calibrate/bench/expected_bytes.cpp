// Minimum traffic and FLOPs of the measured kernels (see expected_bytes.hpp).
#include "bench/expected_bytes.hpp"

#include "bench/stats.hpp"

namespace moesim::calib {

namespace {
constexpr double kBf16 = 2, kF32 = 4, kI32 = 4;
}

double router_gemm_bytes(std::int64_t tokens, int hidden, int experts) {
  const double t = static_cast<double>(tokens), h = hidden, e = experts;
  return e * h * kBf16 + t * h * kBf16 + t * e * kF32;
}

double router_gemm_flops(std::int64_t tokens, int hidden, int experts) {
  return 2.0 * static_cast<double>(tokens) * hidden * experts;
}

double topk_bytes(std::int64_t tokens, int experts, int top_k) {
  const double t = static_cast<double>(tokens);
  return t * experts * kF32 + experts * kF32 + t * top_k * (kI32 + kF32);
}

double gate_bytes(std::int64_t tokens, int hidden, int experts, int top_k) {
  return router_gemm_bytes(tokens, hidden, experts) + topk_bytes(tokens, experts, top_k);
}

double permute_bytes(std::int64_t tokens, int hidden, int experts, int top_k) {
  const double t = static_cast<double>(tokens), h = hidden, k = top_k;
  return t * k * kI32 + t * h * kBf16 + t * k * h * kBf16 + t * k * kI32 + (experts + 1.0) * kI32;
}

double swiglu_bytes(std::int64_t rows, int ffn) {
  const double n = static_cast<double>(rows);
  return n * 2.0 * ffn * kBf16 + n * ffn * kBf16;
}

double expert_bytes(std::span<const int> tokens_per_expert, int hidden, int ffn) {
  const double h = hidden, f = ffn;
  double bytes = 0;
  for (int n : tokens_per_expert) {
    if (n <= 0) continue;
    const double t = n;
    bytes += 3.0 * h * f * kBf16          // gate/up (2F x H) and down (H x F) weights
             + t * h * kBf16              // input rows
             + 2.0 * t * 2.0 * f * kBf16  // gate/up output written, read by SwiGLU
             + 2.0 * t * f * kBf16        // activation written, read by the down projection
             + t * h * kBf16;             // output rows
  }
  return bytes;
}

double expert_flops(std::span<const int> tokens_per_expert, int hidden, int ffn) {
  double tokens = 0;
  for (int n : tokens_per_expert) tokens += n > 0 ? n : 0;
  return 6.0 * hidden * ffn * tokens;
}

double combine_bytes(std::int64_t tokens, int hidden, int top_k) {
  const double t = static_cast<double>(tokens), h = hidden, k = top_k;
  return t * k * h * kBf16 + t * k * (kI32 + kF32) + t * h * kBf16;
}

double copy_bytes(double bytes) { return 2.0 * bytes; }

double alltoall_algbw_GBps(double bytes, double time_us) { return bandwidth_GBps(bytes, time_us); }

double alltoall_busbw_GBps(double algbw_GBps, int ranks) { return ranks > 0 ? algbw_GBps * (ranks - 1.0) / ranks : 0; }

}  // namespace moesim::calib
