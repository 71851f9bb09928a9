#pragma once
// CPU reference for the attention kernels the calibrator is to time: scaled dot-product attention
// in float64 from bf16 inputs, for decode over a KV cache (GQA; DeepSeek-V3's MLA in its absorbed
// form) and for causal prefill chunks. Assumption: the kernels keep fp32 scores and softmax and
// round only their bf16 output, so float64 needs no model of their rounding.
#include <cstdint>
#include <vector>

namespace moesim::calib {

// Layouts (row-major bf16 bit patterns):
//   q [queries][heads][dk]
//   k: key j of KV head g at k[(j * kv_heads + g) * k_row], dk elements (k_row >= dk)
//   v: value j of KV head g at v[(j * kv_heads + g) * v_row], dv elements (v_row >= dv)
// Query head h reads KV head h / (heads / kv_heads) (GQA; heads a multiple of kv_heads). MLA
// absorbed decode is one KV head whose key is the compressed latent and its rope part (576 wide for
// DeepSeek-V3) and whose value is the latent alone: v = k with v_row = k_row and dv = 512.
struct AttentionShape {
  int queries = 1;
  int keys = 1;  // cached context and the new tokens' own keys, in position order
  int heads = 1;
  int kv_heads = 1;
  int dk = 1;
  int dv = 1;
  int k_row = 0;  // 0 = dk
  int v_row = 0;  // 0 = dv
  double scale = 1;
  // Causal: query i sits at position keys - queries + i and sees keys up to it (a prefill chunk
  // after keys - queries cached tokens). Otherwise every query sees every key (decode).
  bool causal = false;
};

// out [queries][heads][dv] = sum_j p_j v_j, p = softmax_j(scale * q . k_j) over the visible keys;
// abs_sum [queries][heads][dv] = sum_j |p_j v_j| (an accumulation bound for the check).
// Throws Error on an inconsistent shape.
void attention_ref(const std::uint16_t* q, const std::uint16_t* k, const std::uint16_t* v, const AttentionShape& s,
                   std::vector<double>& out, std::vector<double>& abs_sum);

}  // namespace moesim::calib
