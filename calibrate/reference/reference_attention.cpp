// CPU reference for attention kernels (see reference_attention.hpp).
#include "reference/reference_attention.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"
#include "reference/reference.hpp"

namespace moesim::calib {

void attention_ref(const std::uint16_t* q, const std::uint16_t* k, const std::uint16_t* v, const AttentionShape& s,
                   std::vector<double>& out, std::vector<double>& abs_sum) {
  const int k_row = s.k_row > 0 ? s.k_row : s.dk;
  const int v_row = s.v_row > 0 ? s.v_row : s.dv;
  if (s.queries < 1 || s.keys < 1 || s.heads < 1 || s.kv_heads < 1 || s.dk < 1 || s.dv < 1 ||
      s.heads % s.kv_heads != 0 || k_row < s.dk || v_row < s.dv || (s.causal && s.queries > s.keys))
    throw Error(fmt::format("attention_ref: inconsistent shape (queries {}, keys {}, heads {}/{}, dk {}, dv {}, "
                            "rows {}/{}, causal {})",
                            s.queries, s.keys, s.heads, s.kv_heads, s.dk, s.dv, k_row, v_row, s.causal));
  const auto n_out = static_cast<std::size_t>(s.queries) * static_cast<std::size_t>(s.heads) *
                     static_cast<std::size_t>(s.dv);
  out.assign(n_out, 0);
  abs_sum.assign(n_out, 0);
  const int group = s.heads / s.kv_heads;
  std::vector<double> score(static_cast<std::size_t>(s.keys));
  for (int i = 0; i < s.queries; ++i) {
    const int visible = s.causal ? s.keys - s.queries + i + 1 : s.keys;
    for (int h = 0; h < s.heads; ++h) {
      const int g = h / group;
      const std::uint16_t* qi = q + (static_cast<std::int64_t>(i) * s.heads + h) * s.dk;
      double top = -std::numeric_limits<double>::infinity();
      for (int j = 0; j < visible; ++j) {
        const std::uint16_t* kj = k + (static_cast<std::int64_t>(j) * s.kv_heads + g) * k_row;
        double dot = 0;
        for (int c = 0; c < s.dk; ++c) dot += static_cast<double>(bf16_to_float(qi[c])) * bf16_to_float(kj[c]);
        score[static_cast<std::size_t>(j)] = s.scale * dot;
        top = std::max(top, score[static_cast<std::size_t>(j)]);
      }
      double norm = 0;
      for (int j = 0; j < visible; ++j) norm += std::exp(score[static_cast<std::size_t>(j)] - top);
      double* o = out.data() + (static_cast<std::size_t>(i) * static_cast<std::size_t>(s.heads) +
                                static_cast<std::size_t>(h)) * static_cast<std::size_t>(s.dv);
      double* a = abs_sum.data() + (o - out.data());
      for (int j = 0; j < visible; ++j) {
        const double p = std::exp(score[static_cast<std::size_t>(j)] - top) / norm;
        const std::uint16_t* vj = v + (static_cast<std::int64_t>(j) * s.kv_heads + g) * v_row;
        for (int c = 0; c < s.dv; ++c) {
          const double term = p * bf16_to_float(vj[c]);
          o[c] += term;
          a[c] += std::fabs(term);
        }
      }
    }
  }
}

}  // namespace moesim::calib
