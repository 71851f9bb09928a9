// The router GEMM of a layer (cublasGemmEx, bf16 in, fp32 logits), checked on 16 tokens spread
// over the batch against float64 dot products of the regenerated inputs.
#include "bench/expected_bytes.hpp"
#include "ops/layer_checks.hpp"
#include "ops/layer_ops.hpp"
#include "reference/host_values.hpp"
#include "reference/reference.hpp"

namespace moesim::calib {

namespace {

class RouterGemmOp final : public Operation {
 public:
  explicit RouterGemmOp(MoeLayer& layer) : layer_(layer) {}
  std::string name() const override { return "router GEMM"; }
  double bytes() const override {
    const LayerShape& s = layer_.shape();
    return router_gemm_bytes(layer_.tokens(), s.hidden, s.experts);
  }
  double flops() const override {
    const LayerShape& s = layer_.shape();
    return router_gemm_flops(layer_.tokens(), s.hidden, s.experts);
  }
  void run(std::span<const cudaStream_t> streams) override { layer_.router_gemm(streams[0]); }
  Verification verify() override { return check_router_logits(layer_); }

 private:
  MoeLayer& layer_;
};

}  // namespace

Verification check_router_logits(const MoeLayer& layer) {
  const int h = layer.shape().hidden, e = layer.shape().experts;
  const int in = LayerSeeds::kInputExp2;
  const std::vector<std::uint16_t> w =
      regenerate(LayerSeeds::router(layer.seed()), 0, static_cast<std::size_t>(e) * h, in + fan_in_exp2(h));
  CompareResult all;
  for (int t : spread(layer.tokens(), 16)) {
    const std::vector<std::uint16_t> x =
        regenerate(LayerSeeds::x(layer.seed()), static_cast<std::size_t>(t) * h, h, in);
    std::vector<double> want, sums;
    matmul_abt_ref(x.data(), 1, w.data(), e, h, want, sums);
    const std::vector<float> got = layer.buffers().logits.to_host(e, static_cast<std::size_t>(t) * e);
    merge_compare(all, compare_values(std::vector<double>(got.begin(), got.end()), want, sums, kFp32GemmTol));
  }
  return verification_of(all, "router GEMM logits");
}

std::unique_ptr<Operation> make_router_gemm_op(MoeLayer& layer) { return std::make_unique<RouterGemmOp>(layer); }

}  // namespace moesim::calib
