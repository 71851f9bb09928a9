// The top-k gate kernel of a layer (softmax top-k or DeepSeek-V3's sigmoid group top-k over the
// fp32 logits), every token's expert set and weights checked against the float64 reference.
#include "bench/expected_bytes.hpp"
#include "kernels/gate_config.hpp"
#include "ops/layer_ops.hpp"
#include "reference/checks.hpp"

namespace moesim::calib {

namespace {

class TopkOp final : public Operation {
 public:
  explicit TopkOp(MoeLayer& layer) : layer_(layer) {}
  std::string name() const override { return "top-k"; }
  double bytes() const override {
    const LayerShape& s = layer_.shape();
    return topk_bytes(layer_.tokens(), s.experts, s.top_k);
  }
  void run(std::span<const cudaStream_t> streams) override { layer_.topk(streams[0]); }
  Verification verify() override { return check_topk_choice(layer_); }

 private:
  MoeLayer& layer_;
};

}  // namespace

Verification check_topk_choice(const MoeLayer& layer) {
  const LayerShape& s = layer.shape();
  const LayerBuffers& b = layer.buffers();
  const std::size_t t = static_cast<std::size_t>(layer.tokens()), k = static_cast<std::size_t>(s.top_k);
  const std::vector<float> logits = b.logits.to_host(t * s.experts);
  const std::vector<std::int32_t> ids = b.gate_ids.to_host(t * k);
  const std::vector<float> w = b.gate_w.to_host(t * k);
  const TopkCheck c = check_topk(logits.data(), layer.bias().data(), layer.tokens(), s.gate, ids.data(), w.data());
  return {c.tokens, c.wrong(), gate_kind_name(s.gate.kind) + " " + c.describe()};
}

std::unique_ptr<Operation> make_topk_op(MoeLayer& layer) { return std::make_unique<TopkOp>(layer); }

}  // namespace moesim::calib
