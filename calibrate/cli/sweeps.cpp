// Measurement procedures shared by the subcommands (see sweeps.hpp): a table row, the copy
// ceiling, whether a layer fits, and the phases of one layer.
#include "cli/sweeps.hpp"

#include <fmt/format.h>

#include <iostream>

#include "ops/device_ops.hpp"
#include "ops/layer_ops.hpp"

namespace moesim::calib {

namespace {
constexpr double kHeadroomBytes = 1.0e9;  // cuBLAS workspaces, the L2 flush buffer, the CUDA context
}  // namespace

OpResult measure_row(Harness& harness, Operation& op, const ResultTable& table, const std::vector<std::string>& labels,
                     double copy_GBps) {
  const OpResult r = harness.measure(op);
  std::cout << table.row(labels, r, copy_GBps) << std::flush;
  require_correct(r);
  return r;
}

CopyResult measure_copy(GpuSession& gpu, BenchOptions options, std::size_t bytes, std::uint64_t seed,
                        const ResultTable* table) {
  bytes = bytes / 16 * 16;
  if (bytes < (std::size_t{16} << 20)) throw InputError("--copy-bytes must be at least 16 MiB (far above the L2)");
  options.flush_l2 = false;  // the buffer is many times the L2
  CopyBuffers buffers(bytes, seed, gpu.stream);
  Harness harness(gpu.stream, options);
  CopyResult r;
  r.bytes = static_cast<double>(bytes);
  const auto measure = [&](CopyMethod method, const char* label) {
    const std::unique_ptr<Operation> op = make_copy_op(buffers, method);
    if (table)
      return measure_row(harness, *op, *table, {fmt::format("copy {} {:.0f} MiB", label, r.bytes / (1 << 20))});
    OpResult result = harness.measure(*op);
    require_correct(result);
    return result;
  };
  r.memcpy = measure(CopyMethod::Memcpy, "cudaMemcpyAsync");
  r.kernel = measure(CopyMethod::Vec16, "16-byte kernel");
  if (!harness.note().empty()) std::cout << "note: " << harness.note() << "\n";
  return r;
}

LayerShape layer_shape(const ResolvedModel& model) {
  LayerShape s;
  s.model = model.spec.name;
  s.hidden = model.spec.hidden;
  s.experts = model.spec.routed_experts;
  s.top_k = model.spec.top_k;
  s.ffn = model.spec.expert_ffn;
  s.gate = model.gate;
  return s;
}

bool layer_fits(const LayerShape& shape, int max_tokens, std::string& why) {
  std::size_t free = 0, total = 0;
  MOESIM_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  const double need = MoeLayer::device_bytes(shape, max_tokens) + kHeadroomBytes;
  if (need <= static_cast<double>(free)) return true;
  why = fmt::format(
      "{} with {} tokens does not fit on this GPU: needs {:.1f} GB (all {} experts in bf16 plus "
      "activations and {:.0f} GB headroom), {:.1f} GB free of {:.1f} GB",
      shape.model, max_tokens, need / 1e9, shape.experts, kHeadroomBytes / 1e9, static_cast<double>(free) / 1e9,
      static_cast<double>(total) / 1e9);
  return false;
}

bool device_fits(double bytes, const std::string& what, std::string& why) {
  std::size_t free = 0, total = 0;
  MOESIM_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  const double need = bytes + kHeadroomBytes;
  if (need <= static_cast<double>(free)) return true;
  why = fmt::format(
      "{} does not fit on this GPU: needs {:.1f} GB ({:.0f} GB of it headroom), {:.1f} GB free of {:.1f} GB", what,
      need / 1e9, kHeadroomBytes / 1e9, static_cast<double>(free) / 1e9, static_cast<double>(total) / 1e9);
  return false;
}

void check_layer_fits(const LayerShape& shape, int max_tokens) {
  std::string why;
  if (!layer_fits(shape, max_tokens, why)) throw Error(why);
}

ResultTable layer_table() {
  return ResultTable({{"tokens", "", 7}, {"gate", "", 12, true}, {"max_load", "tokens", 8}, {"phase", "", 8, true}},
                     {.tflops = true});
}

fit::LayerMeasurement measure_layer(MoeLayer& layer, Harness& harness, const ResultTable& table,
                                    const std::string& gate_label, double skew) {
  fit::LayerMeasurement m;
  m.model = layer.shape().model;
  m.gate = gate_label;
  m.tokens = layer.tokens();
  m.skew = skew;
  m.weight_bytes = 2;
  m.tokens_per_expert = layer.counts();
  const int max_load = *std::max_element(m.tokens_per_expert.begin(), m.tokens_per_expert.end());
  const std::string gate = m.gate.size() > 12 ? m.gate.substr(m.gate.size() - 12) : m.gate;
  const auto phase = [&](const std::unique_ptr<Operation>& op) {
    return measure_row(harness, *op, table, {std::to_string(m.tokens), gate, std::to_string(max_load), op->name()})
        .time.median_us;
  };
  m.gate_us = phase(make_gate_op(layer));
  m.permute_us = phase(make_permute_op(layer));
  m.experts_us = phase(make_experts_op(layer));
  m.combine_us = phase(make_combine_op(layer));
  m.total_us = phase(make_layer_op(layer));  // made now: checked against the phases' output
  std::cout << fmt::format("  sum of the phases {:.2f} us, whole layer {:.2f} us\n",
                           m.gate_us + m.permute_us + m.experts_us + m.combine_us, m.total_us);
  return m;
}

}  // namespace moesim::calib
