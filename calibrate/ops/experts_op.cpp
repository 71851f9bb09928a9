// The routed experts of a layer (gate/up grouped GEMM, SwiGLU, down grouped GEMM), checked on up
// to 3 rows of each of the busiest, the least busy, the first and the last expert with tokens,
// each operation from the GPU's own input row, and the resident weights spot-checked.
#include <fmt/format.h>

#include <algorithm>

#include "bench/expected_bytes.hpp"
#include "ops/layer_checks.hpp"
#include "ops/layer_ops.hpp"
#include "reference/host_values.hpp"
#include "reference/reference.hpp"

namespace moesim::calib {

namespace {

class ExpertsOp final : public Operation {
 public:
  explicit ExpertsOp(MoeLayer& layer) : layer_(layer) {}
  std::string name() const override { return "experts"; }
  double bytes() const override { return expert_bytes(layer_.counts(), layer_.shape().hidden, layer_.shape().ffn); }
  double flops() const override { return expert_flops(layer_.counts(), layer_.shape().hidden, layer_.shape().ffn); }
  void run(std::span<const cudaStream_t> streams) override { layer_.experts(streams[0]); }
  Verification verify() override;

 private:
  MoeLayer& layer_;
};

Verification ExpertsOp::verify() {
  const LayerShape& s = layer_.shape();
  const LayerBuffers& b = layer_.buffers();
  const std::vector<int>& counts = layer_.counts();
  const int h = s.hidden, f = s.ffn;
  std::vector<int> active;
  for (int e = 0; e < s.experts; ++e)
    if (counts[e] > 0) active.push_back(e);
  if (active.empty()) return {0, 1, "experts: the routing gives no expert any token"};
  const auto by_load = [&](int a, int c) { return counts[a] < counts[c]; };
  std::vector<int> sample{*std::max_element(active.begin(), active.end(), by_load),
                          *std::min_element(active.begin(), active.end(), by_load), active.front(), active.back()};
  std::sort(sample.begin(), sample.end());
  sample.erase(std::unique(sample.begin(), sample.end()), sample.end());
  std::vector<int> first(s.experts + 1, 0);
  for (int e = 0; e < s.experts; ++e) first[e + 1] = first[e] + counts[e];
  const int w1_exp2 = LayerSeeds::kInputExp2 + fan_in_exp2(h);
  Verification weights;
  CompareResult up, act, down;
  for (int e : sample) {
    const std::size_t es = static_cast<std::size_t>(e);
    const std::vector<std::uint16_t> w1 = b.w1.to_host(2 * static_cast<std::size_t>(f) * h, es * 2 * f * h);
    const std::vector<std::uint16_t> w2 = b.w2.to_host(static_cast<std::size_t>(h) * f, es * h * f);
    // The weights on the device are the generated ones (spot check), so nothing here times zeros.
    for (std::size_t i : {std::size_t{0}, w1.size() / 2, w1.size() - 1}) {
      ++weights.checked;
      if (w1[i] != bf16_test_value(LayerSeeds::w1(layer_.seed()), es * 2 * f * h + i, w1_exp2) && weights.wrong++ == 0)
        weights.detail = fmt::format("experts: W1 of expert {} differs from its generated values at {}", e, i);
    }
    for (int r : spread(counts[e], 3)) {
      const std::size_t row = static_cast<std::size_t>(first[e] + r);
      const std::vector<std::uint16_t> x = b.x_perm.to_host(h, row * h);
      const std::vector<std::uint16_t> y = b.y.to_host(2 * static_cast<std::size_t>(f), row * 2 * f);
      const std::vector<std::uint16_t> a = b.act.to_host(f, row * f);
      const std::vector<std::uint16_t> o = b.out_perm.to_host(h, row * h);
      std::vector<double> want, sums;
      matmul_abt_ref(x.data(), 1, w1.data(), 2 * f, h, want, sums);  // each op checked from the GPU's own input
      merge_compare(up, compare_values(to_double(y), want, sums, kBf16GemmTol));
      swiglu_ref(y.data(), 1, f, want);
      merge_compare(act, compare_values(to_double(a), want, {}, kBf16ElementwiseTol));
      matmul_abt_ref(a.data(), 1, w2.data(), h, f, want, sums);
      merge_compare(down, compare_values(to_double(o), want, sums, kBf16GemmTol));
    }
  }
  const Verification parts[] = {verification_of(up, "gate/up"), verification_of(act, "SwiGLU"),
                                verification_of(down, "down")};
  Verification v{weights.checked, weights.wrong, weights.detail};
  for (const Verification& p : parts) {
    v.checked += p.checked;
    v.wrong += p.wrong;
  }
  const std::string summary =
      fmt::format("experts ({} GEMMs, {} experts sampled): {}; {}; {}", gemm_mode_name(layer_.ffn().mode()),
                  sample.size(), parts[0].detail, parts[1].detail, parts[2].detail);
  v.detail = weights.wrong > 0 ? weights.detail + "; " + summary : summary;
  return v;
}

}  // namespace

std::unique_ptr<Operation> make_experts_op(MoeLayer& layer) { return std::make_unique<ExpertsOp>(layer); }

}  // namespace moesim::calib
