#pragma once
// Judging GPU results against the CPU references with explicit tolerances. Assumption: an error
// bound of the form atol + rtol * |ref| + sum_factor * sum|terms| covers correct fp32-accumulated,
// bf16-rounded results, while an indexing or layout bug misses it by a wide margin.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kernels/gate_config.hpp"

namespace moesim::calib {

struct Tolerance {
  double rtol = 0;        // relative to |reference|
  double atol = 0;        // absolute
  double sum_factor = 0;  // times the sum of |terms| of a dot product (accumulation error)
};

// Tolerances of the checks (named so README and code agree).
inline constexpr Tolerance kBf16GemmTol{1.0 / 128, 1e-6, 1.0 / 2048};    // bf16 out, fp32 accumulate
inline constexpr Tolerance kFp32GemmTol{1e-5, 1e-6, 1.0 / 2048};         // fp32 out (router logits)
inline constexpr Tolerance kFp8GemmTol{1.0 / 128, 1e-6, 1.0 / 256};      // fp8 in: reduced-precision accumulate
inline constexpr Tolerance kBf16ElementwiseTol{1.0 / 128, 1e-6, 0};      // SwiGLU: one bf16 rounding
inline constexpr Tolerance kBf16CombineTol{1.0 / 128, 1e-6, 1.0 / 128};  // weighted sum of k rows, bf16 out
// Attention, bf16 out: the output's rounding (<= 2^-8 relative) and the softmax weights P rounded
// to bf16 before the P V product, as FlashAttention does (<= 2^-8 of sum |p v|), each with a factor
// 2 of margin; fp32 scores, sums and rescaling add far less.
inline constexpr Tolerance kBf16AttentionTol{1.0 / 128, 1e-6, 1.0 / 128};
inline constexpr double kGateWeightRtol = 1e-4;                          // fp32 gate weights vs float64
inline constexpr double kGateWeightAtol = 1e-6;
inline constexpr double kGateTieTolerance = 1e-5;  // selection gaps below this may flip in fp32

struct CompareResult {
  std::int64_t checked = 0;
  std::int64_t failed = 0;
  double max_abs_error = 0;
  std::int64_t first_bad = -1;  // index of the first failure
  double first_got = 0, first_want = 0, first_allowed = 0;
  bool ok() const { return failed == 0 && checked > 0; }
  // "what: N of M outside tolerance; first at i: got g, want w (allowed a)" or "what: M values ok".
  std::string describe(const std::string& what) const;
};

// `abs_sum` may be empty (then sum_factor is unused). NaN in got or want is a failure.
CompareResult compare_values(std::span<const double> got, std::span<const double> want, std::span<const double> abs_sum,
                             const Tolerance& tol);
// Accumulates b into a (counts, maximum error, first failure).
void merge_compare(CompareResult& a, const CompareResult& b);

// Top-k check: per token the GPU's ids must be valid and distinct and equal the reference's set,
// unless the reference's decision margin is below kGateTieTolerance (a near tie, counted); the
// GPU's weights must equal the reference weights of the GPU's own selection.
struct TopkCheck {
  std::int64_t tokens = 0, exact = 0, near_ties = 0, failures = 0;
  double max_weight_error = 0;
  std::string first_failure;
  std::int64_t allowed_near_ties() const { return 1 + tokens / 100; }
  // Wrong tokens: the failures, plus the near ties beyond what random inputs allow.
  std::int64_t wrong() const {
    return failures + (near_ties > allowed_near_ties() ? near_ties - allowed_near_ties() : 0);
  }
  bool ok() const { return wrong() == 0; }
  std::string describe() const;
};
TopkCheck check_topk(const float* logits, const float* bias, int tokens, const GateConfig& c,
                     const std::int32_t* gpu_ids, const float* gpu_weights);

// Permute layout check: offsets equal the exclusive prefix sum of the id histogram, every
// assignment's row lies in its expert's range, and the rows form a permutation. Counts every
// offset and assignment checked, and the wrong ones (a row written twice counts once more).
struct LayoutCheck {
  std::int64_t checked = 0, wrong = 0;
  std::string first_failure;
  bool ok() const { return wrong == 0 && checked > 0; }
};
LayoutCheck check_permute_layout(const std::int32_t* ids, int tokens, int top_k, int experts,
                                 const std::vector<int>& gpu_offsets, const std::vector<int>& gpu_perm_row);

}  // namespace moesim::calib
