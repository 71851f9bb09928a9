// CPU reference for the fp8 grouped expert GEMM (see reference_fp8_gemm.hpp).
#include "reference/reference_fp8_gemm.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "core/error.hpp"
#include "reference/reference.hpp"

namespace moesim::calib {

namespace {

// Every e4m3 byte's value, decoded once: the reference runs over millions of products per check.
const std::array<double, 256>& e4m3_values() {
  static const std::array<double, 256> values = [] {
    std::array<double, 256> v{};
    for (int b = 0; b < 256; ++b) v[static_cast<std::size_t>(b)] = fp8_e4m3_to_double(static_cast<std::uint8_t>(b));
    return v;
  }();
  return values;
}

}  // namespace

void fp8_grouped_gemm_ref(const Fp8GroupedGemm& g, std::vector<double>& out, std::vector<double>& abs_sum) {
  if (g.n < 1 || g.k < 1 || g.offsets.size() < 2 || g.offsets.front() != 0 || !g.a || !g.a_scale || !g.b ||
      !g.b_scale)
    throw Error(fmt::format("fp8_grouped_gemm_ref: inconsistent description (n {}, k {}, {} offsets)", g.n, g.k,
                            g.offsets.size()));
  for (std::size_t e = 1; e < g.offsets.size(); ++e)
    if (g.offsets[e] < g.offsets[e - 1]) throw Error("fp8_grouped_gemm_ref: offsets must not decrease");
  const int rows = g.offsets.back();
  const std::int64_t k_blocks = (g.k + kFp8ScaleBlock - 1) / kFp8ScaleBlock;
  const std::int64_t n_blocks = (g.n + kFp8ScaleBlock - 1) / kFp8ScaleBlock;
  out.assign(static_cast<std::size_t>(rows) * static_cast<std::size_t>(g.n), 0);
  abs_sum.assign(out.size(), 0);
  const std::array<double, 256>& fp8 = e4m3_values();
  for (std::size_t e = 0; e + 1 < g.offsets.size(); ++e) {
    const std::uint8_t* be = g.b + static_cast<std::int64_t>(e) * g.n * g.k;
    const float* se = g.b_scale + static_cast<std::int64_t>(e) * n_blocks * k_blocks;
    for (int r = g.offsets[e]; r < g.offsets[e + 1]; ++r) {
      const std::uint8_t* ar = g.a + static_cast<std::int64_t>(r) * g.k;
      const float* sar = g.a_scale + static_cast<std::int64_t>(r) * k_blocks;
      for (int c = 0; c < g.n; ++c) {
        const std::uint8_t* bc = be + static_cast<std::int64_t>(c) * g.k;
        const float* sbc = se + (c / kFp8ScaleBlock) * k_blocks;
        // Per 128-wide block: the unscaled products (exact in float64: two 4-bit mantissas), then
        // the block's two scales once.
        double sum = 0, mag = 0;
        for (int i0 = 0; i0 < g.k; i0 += kFp8ScaleBlock) {
          const int i1 = std::min(g.k, i0 + kFp8ScaleBlock);
          double block = 0, block_mag = 0;
          for (int i = i0; i < i1; ++i) {
            const double p = fp8[ar[i]] * fp8[bc[i]];
            block += p;
            block_mag += std::fabs(p);
          }
          const double scale = static_cast<double>(sar[i0 / kFp8ScaleBlock]) * sbc[i0 / kFp8ScaleBlock];
          sum += block * scale;
          mag += block_mag * std::fabs(scale);
        }
        const std::size_t at = static_cast<std::size_t>(r) * static_cast<std::size_t>(g.n) + static_cast<std::size_t>(c);
        out[at] = sum;
        abs_sum[at] = mag;
      }
    }
  }
}

}  // namespace moesim::calib
