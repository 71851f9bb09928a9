// The core-attention operation and its check against attention_ref (see attention_ops.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <map>
#include <vector>

#include "bench/cuda_check.hpp"
#include "kernels/fill.hpp"
#include "ops/attention_ops.hpp"
#include "ops/layer_checks.hpp"
#include "reference/host_values.hpp"
#include "reference/reference.hpp"

namespace moesim::calib {

namespace {

// Multiply-adds the float64 reference may spend per check (about a second of CPU): a prefill
// chunk's queries are sampled down to it.
constexpr double kReferenceBudget = 4e8;

// Heads that cover the grouping: the first two, both ends of the first KV group and the second's
// first, both sides of the middle (MLA absorbed: the two 64-row tiles meet there), the last.
std::vector<int> sample_heads(int heads, int group) {
  std::vector<int> h{0, 1, group - 1, group, heads / 2 - 1, heads / 2, heads - 1};
  std::erase_if(h, [&](int x) { return x < 0 || x >= heads; });
  std::sort(h.begin(), h.end());
  h.erase(std::unique(h.begin(), h.end()), h.end());
  return h;
}

// Rows [0, keys) of KV head g of sequence b, each `width` wide, regenerated from a tensor whose
// rows are `row` elements apart: the compact [keys][width] input of a one-head reference.
std::vector<std::uint16_t> kv_rows(std::uint64_t seed, std::size_t seq_offset, int keys, int kv_heads, int g, int row,
                                   int width) {
  std::vector<std::uint16_t> out(static_cast<std::size_t>(keys) * width);
  for (int j = 0; j < keys; ++j) {
    const std::size_t first = seq_offset + (static_cast<std::size_t>(j) * kv_heads + g) * row;
    for (int c = 0; c < width; ++c)
      out[static_cast<std::size_t>(j) * width + c] = bf16_test_value(seed, first + c, AttentionSeeds::kKvExp2);
  }
  return out;
}

// The first, middle and last element of a tensor equal their generated values.
void spot_check(const DeviceBuffer<std::uint16_t>& buf, std::uint64_t seed, int exp2, const char* what,
                Verification& v) {
  if (buf.size() == 0) return;
  for (std::size_t i : {std::size_t{0}, buf.size() / 2, buf.size() - 1}) {
    std::uint16_t bits = 0;
    buf.download(&bits, 1, i);
    ++v.checked;
    if (bits != bf16_test_value(seed, i, exp2) && v.wrong++ == 0)
      v.detail = fmt::format("attention: {} differs from its generated values at {}", what, i);
  }
}

}  // namespace

AttentionOp::AttentionOp(const AttentionPoint& point, std::uint64_t seed, cudaStream_t stream)
    : point_(point),
      seed_(seed),
      plan_(plan_attention(point.shape, point.batch, point.value_in_key)),
      sizes_(attention_sizes(point)) {
  q_.allocate(sizes_.q);
  k_.allocate(sizes_.k);
  v_.allocate(sizes_.v);
  out_.allocate(sizes_.out);
  partials_.allocate(plan_.partial_floats);
  fill_bf16(q_.get(), sizes_.q, AttentionSeeds::q(seed), AttentionSeeds::kQExp2, stream);
  fill_bf16(k_.get(), sizes_.k, AttentionSeeds::k(seed), AttentionSeeds::kKvExp2, stream);
  fill_bf16(v_.get(), sizes_.v, AttentionSeeds::v(seed), AttentionSeeds::kKvExp2, stream);
  MOESIM_CUDA_CHECK(cudaMemsetAsync(out_.get(), 0xFF, out_.bytes(), stream));  // bf16 NaN
  MOESIM_CUDA_CHECK(cudaStreamSynchronize(stream));
}

std::string AttentionOp::name() const {
  return fmt::format("attention {} (batch {}, queries {}, context {})", attention_phase_name(point_.phase),
                     point_.batch, point_.shape.queries, point_.context);
}

void AttentionOp::run(std::span<const cudaStream_t> streams) {
  AttentionTensors t;
  t.q = q_.get();
  t.k = k_.get();
  t.v = point_.value_in_key ? nullptr : v_.get();
  t.out = out_.get();
  t.q_stride = static_cast<std::int64_t>(sizes_.q_seq);
  t.k_stride = static_cast<std::int64_t>(sizes_.k_seq);
  t.v_stride = static_cast<std::int64_t>(sizes_.v_seq);
  t.out_stride = static_cast<std::int64_t>(sizes_.out_seq);
  launch_attention(plan_, point_.shape, point_.batch, t, partials_.get(), streams[0]);
}

Verification AttentionOp::verify() {
  const AttentionShape& s = point_.shape;
  const int group = s.heads / s.kv_heads;
  const int k_row = s.k_row > 0 ? s.k_row : s.dk, v_row = s.v_row > 0 ? s.v_row : s.dv;
  Verification inputs;
  spot_check(q_, AttentionSeeds::q(seed_), AttentionSeeds::kQExp2, "Q", inputs);
  spot_check(k_, AttentionSeeds::k(seed_), AttentionSeeds::kKvExp2, "K", inputs);
  spot_check(v_, AttentionSeeds::v(seed_), AttentionSeeds::kKvExp2, "V", inputs);

  std::vector<int> seqs{0, point_.batch - 1};
  seqs.erase(std::unique(seqs.begin(), seqs.end()), seqs.end());
  const std::vector<int> heads = sample_heads(s.heads, group);
  // Queries: all of a decode step; a chunk's spread from the first to the last (the causal edges),
  // as many as the reference budget allows (at least 8).
  const double per_query =
      static_cast<double>(s.keys) * (s.dk + s.dv) * static_cast<double>(heads.size() * seqs.size());
  const int n_queries = static_cast<int>(std::min(std::max(kReferenceBudget / per_query, 8.0), 1.0 * s.queries));
  const std::vector<int> queries = spread(s.queries, n_queries);

  CompareResult result;
  std::vector<double> want, sums;
  for (int b : seqs) {
    std::map<int, std::vector<std::uint16_t>> keys, values;  // per KV head of the sampled heads
    for (int h : heads) {
      const int g = h / group;
      if (keys.count(g)) continue;
      keys[g] = kv_rows(AttentionSeeds::k(seed_), static_cast<std::size_t>(b) * sizes_.k_seq, s.keys, s.kv_heads, g,
                        k_row, s.dk);
      if (!point_.value_in_key)
        values[g] = kv_rows(AttentionSeeds::v(seed_), static_cast<std::size_t>(b) * sizes_.v_seq, s.keys, s.kv_heads, g,
                            v_row, s.dv);
    }
    for (int i : queries) {
      const std::vector<std::uint16_t> out =
          out_.to_host(static_cast<std::size_t>(s.heads) * s.dv,
                       static_cast<std::size_t>(b) * sizes_.out_seq + static_cast<std::size_t>(i) * s.heads * s.dv);
      // Query i alone over the keys it sees: the same sums as in the whole chunk.
      const AttentionShape one{.queries = 1,
                               .keys = s.causal ? s.keys - s.queries + i + 1 : s.keys,
                               .dk = s.dk,
                               .dv = s.dv,
                               .k_row = s.dk,
                               .v_row = point_.value_in_key ? s.dk : s.dv,
                               .scale = s.scale};
      for (int h : heads) {
        const int g = h / group;
        const std::vector<std::uint16_t> q =
            regenerate(AttentionSeeds::q(seed_),
                       static_cast<std::size_t>(b) * sizes_.q_seq + (static_cast<std::size_t>(i) * s.heads + h) * s.dk,
                       s.dk, AttentionSeeds::kQExp2);
        const std::uint16_t* k = keys[g].data();
        attention_ref(q.data(), k, point_.value_in_key ? k : values[g].data(), one, want, sums);
        const auto first = out.begin() + static_cast<std::ptrdiff_t>(h) * s.dv;
        const std::vector<double> got = to_double(std::vector<std::uint16_t>(first, first + s.dv));
        merge_compare(result, compare_values(got, want, sums, kBf16AttentionTol));
      }
    }
  }
  Verification v = verification_of(result, fmt::format("attention: {} sequences x {} queries x {} heads x {} outputs",
                                                       seqs.size(), queries.size(), heads.size(), s.dv));
  v.checked += inputs.checked;
  v.wrong += inputs.wrong;
  if (inputs.wrong > 0) v.detail = inputs.detail + "; " + v.detail;
  return v;
}

double attention_op_device_bytes(const AttentionPoint& point) {
  const AttentionPlan plan = plan_attention(point.shape, point.batch, point.value_in_key);
  return attention_buffer_bytes(point) + 4.0 * static_cast<double>(plan.partial_floats);
}

}  // namespace moesim::calib
