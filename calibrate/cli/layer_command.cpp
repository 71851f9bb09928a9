// `moesim-calibrate layer`: one whole MoE layer on one GPU (all routed experts resident, bf16),
// driven by one step of a routing trace or a synthetic gate, timed phase by phase and as a whole.
// Assumption: the gate's own top-k output is computed (and timed) but the routing that drives
// permute, experts and combine is the trace's / synthetic gate's.
#include <fmt/format.h>

#include <iostream>

#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "ops/routing.hpp"

namespace moesim::calib {

namespace {

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
  const Routing routing = a.trace.empty()
                              ? synthetic_routing(gate.spec, gate.label, gate.skew, model.spec.routed_experts,
                                                  model.spec.top_k, a.tokens, a.common.seed)
                              : trace_routing(a.trace, model.spec.routed_experts, model.spec.top_k, a.tokens, a.step,
                                              a.trace_layer, a.common.seed);
  GpuSession gpu;
  fit::Measurements m;
  m.meta = collect_meta(argv.argc, argv.argv, false);
  const LayerShape shape = layer_shape(model);
  check_layer_fits(shape, a.tokens);
  std::cout << fmt::format("{}: {} tokens routed by {}, all {} experts on {} (bf16), expert GEMMs {}\n", shape.model,
                           a.tokens, routing.label, shape.experts, m.meta.device, gemm_mode_name(mode));
  MoeLayer layer(shape, a.tokens, mode, a.common.seed, gpu.cublas, gpu.stream);
  layer.set_routing(routing);
  Harness harness(gpu.stream, a.common.bench());
  const ResultTable table = layer_table();
  std::cout << table.header();
  const fit::LayerMeasurement lm = measure_layer(layer, harness, table, routing.label, routing.skew);
  if (!layer.ffn().note().empty()) std::cout << "note: " << layer.ffn().note() << "\n";
  if (!harness.note().empty()) std::cout << "note: " << harness.note() << "\n";
  m.layers.push_back(lm);
  save_measurements_to(m, a.common.out, a.common.merge);
  return 0;
}

}  // namespace

Runner add_layer_command(CLI::App& app, const Argv& argv) {
  auto a = std::make_shared<LayerArgs>();
  CLI::App* sub = app.add_subcommand("layer", "time a whole single-GPU MoE layer driven by a trace or synthetic gate");
  add_common_options(sub, a->common);
  add_model_options(sub, a->model);
  sub->add_option("--tokens", a->tokens, "tokens in the layer")->required()->check(CLI::Range(1, 1 << 20));
  sub->add_option("--trace", a->trace, "routing trace (moesim format): take one step's assignments");
  sub->add_option("--gate", a->gate, "synthetic gate instead of a trace: uniform | zipf:S");
  sub->add_option("--step", a->step, "trace step to read (default 0)");
  sub->add_option("--trace-layer", a->trace_layer, "MoE layer of the trace to read (default 0)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--gemm", a->gemm, "expert GEMMs: grouped | loop");
  return [sub, a, argv]() { return sub->parsed() ? run_layer(*a, argv) : -1; };
}

}  // namespace moesim::calib
