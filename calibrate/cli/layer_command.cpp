// `moesim-calibrate layer`: one whole MoE layer on one GPU (all routed experts resident, bf16),
// driven by one step of a routing trace or a synthetic gate, timed phase by phase and as a whole.
// Assumption: the gate's own top-k output is computed (and timed) but the routing that drives
// permute, experts and combine is the trace's / synthetic gate's.
#include <fmt/format.h>

#include <iostream>

#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "kernels/routing.hpp"

namespace moesim::calib {

namespace {

constexpr double kHeadroomBytes = 1.0e9;  // cuBLAS workspaces, the L2 flush buffer, the CUDA context

struct LayerArgs {
  CommonArgs common;
  ModelArgs model;
  int tokens = 0;
  std::string trace;
  std::string gate;
  std::uint64_t step = 0;
  int trace_layer = 0;
  std::string gemm = "grouped";
};

int run_layer(const LayerArgs& a, const Argv& argv) {
  const ResolvedModel model = resolve_model(a.model);
  if (a.trace.empty() == a.gate.empty()) throw InputError("layer: give exactly one of --trace FILE and --gate SPEC");
  const GateArg gate = a.gate.empty() ? GateArg{} : parse_gate_arg(a.gate);
  const GemmMode mode = parse_gemm_mode(a.gemm);
  const Routing routing =
      a.trace.empty()
          ? synthetic_routing(gate.spec, gate.label, gate.skew, model.spec.routed_experts, model.spec.top_k, a.tokens,
                              a.common.seed)
          : trace_routing(a.trace, model.spec.routed_experts, model.spec.top_k, a.tokens, a.step, a.trace_layer,
                          a.common.seed);
  GpuSession gpu;
  fit::Measurements m;
  m.meta = collect_meta(argv.argc, argv.argv, false);
  const LayerShape shape = layer_shape(model);
  check_layer_fits(shape, a.tokens);
  std::cout << fmt::format("{}: {} tokens routed by {}, all {} experts on {} (bf16), expert GEMMs {}\n", shape.model,
                           a.tokens, routing.label, shape.experts, m.meta.device, gemm_mode_name(mode));
  MoeLayer layer(shape, a.tokens, mode, a.common.seed, gpu.cublas, gpu.stream);
  layer.set_routing(routing);
  Bench bench(gpu.stream, a.common.bench());
  const fit::LayerMeasurement lm = measure_layer(layer, bench, routing.label, routing.skew);
  std::cout << layer_header_text() << layer_row_text(lm);
  if (!layer.ffn().note().empty()) std::cout << "note: " << layer.ffn().note() << "\n";
  if (!bench.note().empty()) std::cout << "note: " << bench.note() << "\n";
  m.layers.push_back(lm);
  save_measurements_to(m, a.common.out, a.common.merge);
  return 0;
}

}  // namespace

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
  why = fmt::format("{} with {} tokens does not fit on this GPU: needs {:.1f} GB (all {} experts in bf16 plus "
                    "activations and {:.0f} GB headroom), {:.1f} GB free of {:.1f} GB",
                    shape.model, max_tokens, need / 1e9, shape.experts, kHeadroomBytes / 1e9,
                    static_cast<double>(free) / 1e9, static_cast<double>(total) / 1e9);
  return false;
}

void check_layer_fits(const LayerShape& shape, int max_tokens) {
  std::string why;
  if (!layer_fits(shape, max_tokens, why)) throw Error(why);
}

fit::LayerMeasurement measure_layer(MoeLayer& layer, Bench& bench, const std::string& gate_label, double skew) {
  fit::LayerMeasurement m;
  m.model = layer.shape().model;
  m.gate = gate_label;
  m.tokens = layer.tokens();
  m.skew = skew;
  m.weight_bytes = 2;
  m.tokens_per_expert = layer.counts();
  m.gate_us = bench.measure([&](cudaStream_t s) { layer.gate(s); }, [&] {
                     layer.verify_router();
                     layer.verify_topk();
                   }).median_us;
  m.permute_us = bench.measure([&](cudaStream_t s) { layer.permute(s); }, [&] { layer.verify_permute(); }).median_us;
  m.experts_us = bench.measure([&](cudaStream_t s) { layer.experts(s); }, [&] { layer.verify_experts(); }).median_us;
  m.combine_us = bench.measure([&](cudaStream_t s) { layer.combine(s); }, [&] { layer.verify_combine(); }).median_us;
  layer.save_output();
  m.total_us = bench.measure([&](cudaStream_t s) { layer.layer(s); }, [&] { layer.verify_output(); }).median_us;
  return m;
}

std::string layer_header_text() {
  return fmt::format("{:<16} {:>7} {:<12} {:>9} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}\n", "model", "tokens", "gate",
                     "max_load", "gate_us", "permute_us", "experts_us", "combine_us", "total_us", "sum_us");
}

std::string layer_row_text(const fit::LayerMeasurement& m) {
  int max_load = 0;
  for (int n : m.tokens_per_expert) max_load = std::max(max_load, n);
  return fmt::format("{:<16} {:>7} {:<12} {:>9} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f} {:>10.2f} {:>9.2f}\n", m.model,
                     m.tokens, m.gate.size() > 12 ? m.gate.substr(m.gate.size() - 12) : m.gate, max_load, m.gate_us,
                     m.permute_us, m.experts_us, m.combine_us, m.total_us,
                     m.gate_us + m.permute_us + m.experts_us + m.combine_us);
}

Runner add_layer_command(CLI::App& app, const Argv& argv) {
  auto a = std::make_shared<LayerArgs>();
  CLI::App* sub = app.add_subcommand("layer", "time a whole single-GPU MoE layer driven by a trace or synthetic gate");
  add_common_options(sub, a->common);
  add_model_options(sub, a->model);
  sub->add_option("--tokens", a->tokens, "tokens in the layer")->required()->check(CLI::Range(1, 1 << 20));
  sub->add_option("--trace", a->trace, "routing trace (moesim format): take one step's assignments");
  sub->add_option("--gate", a->gate, "synthetic gate instead of a trace: uniform | zipf:S");
  sub->add_option("--step", a->step, "trace step to read (default 0)");
  sub->add_option("--trace-layer", a->trace_layer, "MoE layer of the trace to read (default 0)")->check(CLI::NonNegativeNumber);
  sub->add_option("--gemm", a->gemm, "expert GEMMs: grouped | loop");
  return [sub, a, argv]() { return sub->parsed() ? run_layer(*a, argv) : -1; };
}

}  // namespace moesim::calib
