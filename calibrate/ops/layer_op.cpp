// The whole layer as one operation (gate, permute, experts, combine back to back), checked against
// the output the phases gave one by one. Rows may sit elsewhere inside an expert (the permute's
// atomics), so the check allows a few bf16 steps of the output's typical size besides the
// relative bound.
#include <cmath>

#include "bench/expected_bytes.hpp"
#include "ops/layer_checks.hpp"
#include "ops/layer_ops.hpp"

namespace moesim::calib {

namespace {

class LayerOp final : public Operation {
 public:
  explicit LayerOp(MoeLayer& layer) : layer_(layer) { layer_.save_output(); }
  std::string name() const override { return "layer"; }
  double bytes() const override {
    const LayerShape& s = layer_.shape();
    const std::int64_t t = layer_.tokens();
    return gate_bytes(t, s.hidden, s.experts, s.top_k) + permute_bytes(t, s.hidden, s.experts, s.top_k) +
           expert_bytes(layer_.counts(), s.hidden, s.ffn) + combine_bytes(t, s.hidden, s.top_k);
  }
  double flops() const override {
    const LayerShape& s = layer_.shape();
    return router_gemm_flops(layer_.tokens(), s.hidden, s.experts) + expert_flops(layer_.counts(), s.hidden, s.ffn);
  }
  void run(std::span<const cudaStream_t> streams) override { layer_.layer(streams[0]); }
  Verification verify() override {
    const std::vector<double> want = to_double(layer_.saved_output());
    const std::vector<double> got = to_double(layer_.buffers().out.to_host(want.size()));
    double square = 0;
    for (double v : want) square += v * v;
    const double rms = want.empty() ? 0 : std::sqrt(square / static_cast<double>(want.size()));
    const Tolerance tol{1.0 / 128, rms / 64, 0};
    return verification_of(compare_values(got, want, {}, tol), "whole layer vs phase by phase");
  }

 private:
  MoeLayer& layer_;
};

}  // namespace

std::unique_ptr<Operation> make_layer_op(MoeLayer& layer) { return std::make_unique<LayerOp>(layer); }

}  // namespace moesim::calib
