// The fused SwiGLU of a layer's experts alone (silu(gate) * up, bf16 out), run on the gate/up rows
// the experts left (so make it after the experts have run), checked on 32 rows spread over them.
#include "bench/expected_bytes.hpp"
#include "ops/layer_checks.hpp"
#include "ops/layer_ops.hpp"
#include "reference/reference.hpp"

namespace moesim::calib {

namespace {

class SwigluOp final : public Operation {
 public:
  explicit SwigluOp(MoeLayer& layer) : layer_(layer) {}
  std::string name() const override { return "SwiGLU"; }
  double bytes() const override { return swiglu_bytes(layer_.ffn().rows(), layer_.shape().ffn); }
  void run(std::span<const cudaStream_t> streams) override { layer_.swiglu(streams[0]); }
  Verification verify() override {
    const int f = layer_.shape().ffn;
    const LayerBuffers& b = layer_.buffers();
    CompareResult all;
    for (int r : spread(static_cast<int>(layer_.ffn().rows()), 32)) {
      const std::size_t row = static_cast<std::size_t>(r);
      const std::vector<std::uint16_t> y = b.y.to_host(2 * static_cast<std::size_t>(f), row * 2 * f);
      std::vector<double> want;
      swiglu_ref(y.data(), 1, f, want);
      merge_compare(all, compare_values(to_double(b.act.to_host(f, row * f)), want, {}, kBf16ElementwiseTol));
    }
    return verification_of(all, "SwiGLU");
  }

 private:
  MoeLayer& layer_;
};

}  // namespace

std::unique_ptr<Operation> make_swiglu_op(MoeLayer& layer) { return std::make_unique<SwigluOp>(layer); }

}  // namespace moesim::calib
