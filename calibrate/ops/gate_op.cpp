// The whole gate of a layer: router GEMM then top-k, checked as both are (logits and choices).
#include "bench/expected_bytes.hpp"
#include "ops/layer_ops.hpp"

namespace moesim::calib {

namespace {

class GateOp final : public Operation {
 public:
  explicit GateOp(MoeLayer& layer) : layer_(layer) {}
  std::string name() const override { return "gate"; }
  double bytes() const override {
    const LayerShape& s = layer_.shape();
    return gate_bytes(layer_.tokens(), s.hidden, s.experts, s.top_k);
  }
  double flops() const override {
    const LayerShape& s = layer_.shape();
    return router_gemm_flops(layer_.tokens(), s.hidden, s.experts);
  }
  void run(std::span<const cudaStream_t> streams) override { layer_.gate(streams[0]); }
  Verification verify() override {
    Verification v = check_router_logits(layer_);
    merge_verification(v, check_topk_choice(layer_));
    return v;
  }

 private:
  MoeLayer& layer_;
};

}  // namespace

std::unique_ptr<Operation> make_gate_op(MoeLayer& layer) { return std::make_unique<GateOp>(layer); }

}  // namespace moesim::calib
