// The combine of a layer (per token the gate-weighted sum of its k expert rows, fp32 accumulate,
// bf16 out), checked on 64 tokens spread over the batch from the GPU's own expert rows.
#include "bench/expected_bytes.hpp"
#include "ops/layer_checks.hpp"
#include "ops/layer_ops.hpp"
#include "reference/reference.hpp"

namespace moesim::calib {

namespace {

class CombineOp final : public Operation {
 public:
  explicit CombineOp(MoeLayer& layer) : layer_(layer) {}
  std::string name() const override { return "combine"; }
  double bytes() const override { return combine_bytes(layer_.tokens(), layer_.shape().hidden, layer_.shape().top_k); }
  void run(std::span<const cudaStream_t> streams) override { layer_.combine(streams[0]); }
  Verification verify() override;

 private:
  MoeLayer& layer_;
};

Verification CombineOp::verify() {
  const int t = layer_.tokens(), k = layer_.shape().top_k, h = layer_.shape().hidden;
  const LayerBuffers& b = layer_.buffers();
  const std::vector<int> rows = b.perm_row.to_host(static_cast<std::size_t>(t) * k);
  CompareResult all;
  std::vector<std::vector<std::uint16_t>> expert_rows(k);
  std::vector<const std::uint16_t*> ptrs(k);
  std::vector<double> want(h), sums(h);
  for (int token : spread(t, 64)) {
    for (int j = 0; j < k; ++j) {
      const std::size_t row = static_cast<std::size_t>(rows[static_cast<std::size_t>(token) * k + j]);
      expert_rows[j] = b.out_perm.to_host(h, row * h);
      ptrs[j] = expert_rows[j].data();
    }
    combine_row_ref(ptrs.data(), layer_.routing().weights.data() + static_cast<std::size_t>(token) * k, k, h,
                    want.data(), sums.data());
    merge_compare(all, compare_values(to_double(b.out.to_host(h, static_cast<std::size_t>(token) * h)), want, sums,
                                      kBf16CombineTol));
  }
  return verification_of(all, "combine");
}

}  // namespace

std::unique_ptr<Operation> make_combine_op(MoeLayer& layer) { return std::make_unique<CombineOp>(layer); }

}  // namespace moesim::calib
