// The permute of a layer (token rows into expert-contiguous order): the layout (offsets, each
// row inside its expert's range, a permutation) checked in full, 256 sampled rows bit-exact.
#include <fmt/format.h>

#include "bench/expected_bytes.hpp"
#include "ops/layer_checks.hpp"
#include "ops/layer_ops.hpp"

namespace moesim::calib {

namespace {

class PermuteOp final : public Operation {
 public:
  explicit PermuteOp(MoeLayer& layer) : layer_(layer) {}
  std::string name() const override { return "permute"; }
  double bytes() const override {
    const LayerShape& s = layer_.shape();
    return permute_bytes(layer_.tokens(), s.hidden, s.experts, s.top_k);
  }
  void run(std::span<const cudaStream_t> streams) override { layer_.permute(streams[0]); }
  Verification verify() override;

 private:
  MoeLayer& layer_;
};

Verification PermuteOp::verify() {
  const LayerShape& s = layer_.shape();
  const LayerBuffers& b = layer_.buffers();
  const int t = layer_.tokens(), k = s.top_k, h = s.hidden;
  const std::vector<int> offsets = b.offsets.to_host(static_cast<std::size_t>(s.experts) + 1);
  const std::vector<int> rows = b.perm_row.to_host(static_cast<std::size_t>(t) * k);
  const LayoutCheck layout = check_permute_layout(layer_.routing().ids.data(), t, k, s.experts, offsets, rows);
  if (!layout.ok()) return {layout.checked, layout.wrong, "permute layout: " + layout.first_failure};
  std::int64_t checked = 0, wrong = 0;
  std::string first;
  for (int a : spread(t * k, 256)) {
    const int token = a / k;
    const std::vector<std::uint16_t> want =
        regenerate(LayerSeeds::x(layer_.seed()), static_cast<std::size_t>(token) * h, h, LayerSeeds::kInputExp2);
    const std::vector<std::uint16_t> got = b.x_perm.to_host(h, static_cast<std::size_t>(rows[a]) * h);
    ++checked;
    if (got != want && wrong++ == 0)
      first = fmt::format("permute: row {} (token {}, copy {}) differs from the token's input", rows[a], token, a % k);
  }
  return {layout.checked + checked, wrong,
          wrong ? first : fmt::format("permute: layout of {} rows valid, {} rows bit-exact", t * k, checked)};
}

}  // namespace

std::unique_ptr<Operation> make_permute_op(MoeLayer& layer) { return std::make_unique<PermuteOp>(layer); }

}  // namespace moesim::calib
