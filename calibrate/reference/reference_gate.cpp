// CPU reference of the router: number formats (bf16, fp8 e4m3), the A B^T product in float64,
// and the two top-k gates, following Hugging Face's Qwen3-MoE and DeepSeek-V3 MoEGate code
// (assumption: masked-out groups are excluded outright, as vLLM and SGLang do, not filled with 0).
#include "reference/reference.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

namespace moesim::calib {

float bf16_to_float(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

std::uint16_t bf16_from_float(float value) {
  const std::uint32_t u = std::bit_cast<std::uint32_t>(value);
  if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu) != 0) return static_cast<std::uint16_t>((u >> 16) | 0x40u);
  const std::uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);  // round half to even
  return static_cast<std::uint16_t>((u + rounding) >> 16);
}

double fp8_e4m3_to_double(std::uint8_t bits) {
  const double sign = (bits & 0x80u) != 0 ? -1.0 : 1.0;
  const int exp_field = (bits >> 3) & 0xF;
  const int mant = bits & 0x7;
  if (exp_field == 0xF && mant == 0x7) return std::numeric_limits<double>::quiet_NaN();
  if (exp_field == 0) return sign * std::ldexp(mant / 8.0, -6);
  return sign * std::ldexp(1.0 + mant / 8.0, exp_field - 7);
}

void matmul_abt_ref(const std::uint16_t* a, int n, const std::uint16_t* b, int m, int k, std::vector<double>& c,
                    std::vector<double>& abs_sum) {
  c.assign(static_cast<std::size_t>(n) * m, 0.0);
  abs_sum.assign(c.size(), 0.0);
  std::vector<double> arow(k);
  for (int i = 0; i < n; ++i) {
    for (int l = 0; l < k; ++l) arow[l] = bf16_to_float(a[static_cast<std::size_t>(i) * k + l]);
    for (int j = 0; j < m; ++j) {
      const std::uint16_t* brow = b + static_cast<std::size_t>(j) * k;
      double s = 0, sa = 0;
      for (int l = 0; l < k; ++l) {
        const double p = arow[l] * bf16_to_float(brow[l]);
        s += p;
        sa += std::fabs(p);
      }
      c[static_cast<std::size_t>(i) * m + j] = s;
      abs_sum[static_cast<std::size_t>(i) * m + j] = sa;
    }
  }
}

namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// Sorts `idx` by decreasing key, ties to the lower index.
void sort_desc(std::vector<int>& idx, const std::vector<double>& key) {
  std::sort(idx.begin(), idx.end(), [&](int a, int b) { return key[a] > key[b] || (key[a] == key[b] && a < b); });
}

}  // namespace

void topk_weights_for(const float* row, const GateConfig& c, const int* ids, double* weights) {
  const int e_n = c.experts, k = c.top_k;
  if (c.kind == GateKind::SoftmaxTopk) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int e = 0; e < e_n; ++e) mx = std::max(mx, static_cast<double>(row[e]));
    double denom = 0;
    for (int e = 0; e < e_n; ++e) denom += std::exp(row[e] - mx);
    double sel = 0;
    for (int j = 0; j < k; ++j) sel += std::exp(row[ids[j]] - mx);
    for (int j = 0; j < k; ++j) weights[j] = std::exp(row[ids[j]] - mx) / (c.normalize ? sel : denom);
    return;
  }
  double sum = 0;
  for (int j = 0; j < k; ++j) sum += sigmoid(row[ids[j]]);
  const bool norm = c.normalize && k > 1;  // DeepSeek-V3 normalises only for top_k > 1
  for (int j = 0; j < k; ++j)
    weights[j] = (norm ? sigmoid(row[ids[j]]) / (sum + 1e-20) : sigmoid(row[ids[j]])) * c.scaling;
}

TopkRef topk_ref(const float* logits, const float* bias, int tokens, const GateConfig& c) {
  validate_gate_config(c);
  const int e_n = c.experts, k = c.top_k;
  TopkRef r;
  r.ids.resize(static_cast<std::size_t>(tokens) * k);
  r.weights.resize(r.ids.size());
  r.margin.assign(tokens, std::numeric_limits<double>::infinity());
  std::vector<double> choice(e_n), group_score(c.n_group);
  std::vector<int> cand, groups(c.n_group), in_group;
  for (int t = 0; t < tokens; ++t) {
    const float* row = logits + static_cast<std::size_t>(t) * e_n;
    double& margin = r.margin[t];
    std::vector<char> allowed(e_n, 1);
    for (int e = 0; e < e_n; ++e)
      choice[e] = c.kind == GateKind::SoftmaxTopk ? row[e] : sigmoid(row[e]) + (bias ? bias[e] : 0.0f);
    if (c.kind == GateKind::SigmoidGroupTopk && c.n_group > 1) {
      const int per = e_n / c.n_group;
      for (int g = 0; g < c.n_group; ++g) {
        in_group.resize(per);
        std::iota(in_group.begin(), in_group.end(), g * per);
        sort_desc(in_group, choice);
        group_score[g] = choice[in_group[0]] + choice[in_group[1]];
      }
      std::iota(groups.begin(), groups.end(), 0);
      sort_desc(groups, group_score);
      if (c.n_group > c.topk_group)
        margin = std::min(margin, group_score[groups[c.topk_group - 1]] - group_score[groups[c.topk_group]]);
      std::vector<char> picked(c.n_group, 0);
      for (int i = 0; i < c.topk_group; ++i) picked[groups[i]] = 1;
      for (int e = 0; e < e_n; ++e) allowed[e] = picked[e / per];
    }
    cand.clear();
    for (int e = 0; e < e_n; ++e)
      if (allowed[e]) cand.push_back(e);
    sort_desc(cand, choice);
    if (static_cast<int>(cand.size()) > k) margin = std::min(margin, choice[cand[k - 1]] - choice[cand[k]]);
    int* ids = r.ids.data() + static_cast<std::size_t>(t) * k;
    for (int j = 0; j < k; ++j) ids[j] = cand[j];
    topk_weights_for(row, c, ids, r.weights.data() + static_cast<std::size_t>(t) * k);
  }
  return r;
}

}  // namespace moesim::calib
