// CPU reference of the MoE data path after the gate: permute into expert-contiguous order,
// SwiGLU, and the weighted combine, in float64 (assumption: a stable token-major order within an
// expert; the GPU's order may differ, so checks compare layouts by validity, not equality).
#include "reference/reference.hpp"

#include <cmath>
#include <cstring>

#include "core/error.hpp"

namespace moesim::calib {

PermuteRef permute_ref(const std::int32_t* ids, int tokens, int top_k, int experts) {
  PermuteRef r;
  r.counts.assign(experts, 0);
  const std::size_t n = static_cast<std::size_t>(tokens) * top_k;
  for (std::size_t a = 0; a < n; ++a) {
    if (ids[a] < 0 || ids[a] >= experts) throw Error("permute_ref: expert id out of range");
    ++r.counts[ids[a]];
  }
  r.offsets.assign(experts + 1, 0);
  for (int e = 0; e < experts; ++e) r.offsets[e + 1] = r.offsets[e] + r.counts[e];
  std::vector<int> cursor(r.offsets.begin(), r.offsets.end() - 1);
  r.perm_row.resize(n);
  for (std::size_t a = 0; a < n; ++a) r.perm_row[a] = cursor[ids[a]]++;
  return r;
}

std::vector<std::uint16_t> permute_rows_ref(const std::uint16_t* x, int tokens, int hidden, int top_k,
                                            const std::vector<int>& perm_row) {
  std::vector<std::uint16_t> out(static_cast<std::size_t>(tokens) * top_k * hidden);
  for (int t = 0; t < tokens; ++t)
    for (int j = 0; j < top_k; ++j)
      std::memcpy(out.data() + static_cast<std::size_t>(perm_row[static_cast<std::size_t>(t) * top_k + j]) * hidden,
                  x + static_cast<std::size_t>(t) * hidden, sizeof(std::uint16_t) * hidden);
  return out;
}

double silu(double g) { return g / (1.0 + std::exp(-g)); }

void swiglu_ref(const std::uint16_t* y, std::int64_t rows, int ffn, std::vector<double>& out) {
  out.resize(static_cast<std::size_t>(rows) * ffn);
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::uint16_t* yr = y + static_cast<std::size_t>(r) * 2 * ffn;
    for (int f = 0; f < ffn; ++f)
      out[static_cast<std::size_t>(r) * ffn + f] = silu(bf16_to_float(yr[f])) * bf16_to_float(yr[ffn + f]);
  }
}

void combine_row_ref(const std::uint16_t* const* rows, const float* weights, int top_k, int hidden, double* out,
                     double* abs_sum) {
  for (int h = 0; h < hidden; ++h) {
    double s = 0, sa = 0;
    for (int j = 0; j < top_k; ++j) {
      const double p = static_cast<double>(weights[j]) * bf16_to_float(rows[j][h]);
      s += p;
      sa += std::fabs(p);
    }
    out[h] = s;
    if (abs_sum) abs_sum[h] = sa;
  }
}

std::vector<double> combine_ref(const std::uint16_t* expert_out, const std::vector<int>& perm_row, const float* weights,
                                int tokens, int top_k, int hidden) {
  std::vector<double> out(static_cast<std::size_t>(tokens) * hidden);
  std::vector<const std::uint16_t*> rows(top_k);
  for (int t = 0; t < tokens; ++t) {
    for (int j = 0; j < top_k; ++j)
      rows[j] = expert_out + static_cast<std::size_t>(perm_row[static_cast<std::size_t>(t) * top_k + j]) * hidden;
    combine_row_ref(rows.data(), weights + static_cast<std::size_t>(t) * top_k, top_k, hidden,
                    out.data() + static_cast<std::size_t>(t) * hidden, nullptr);
  }
  return out;
}

}  // namespace moesim::calib
