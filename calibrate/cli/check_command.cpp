// `moesim-calibrate check`: every operation checked against its CPU reference by the harness,
// nothing timed. Small and medium token counts of deepseek-v3 and qwen3-30b-a3b (both gate kinds,
// grouped and loop expert GEMMs, uniform and skewed routing), a 60-expert shape for the scalar
// top-k path, and the device-ceiling operations. Exit 3 when any result differs from its reference.
#include <fmt/format.h>

#include <iostream>

#include "bench/harness.hpp"
#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "kernels/device_gemm.hpp"
#include "ops/device_ops.hpp"
#include "ops/layer_ops.hpp"
#include "ops/routing.hpp"

namespace moesim::calib {

namespace {

struct CheckArgs {
  std::string models = "deepseek-v3,qwen3-30b-a3b";
  std::uint64_t seed = 1;
};

struct Case {
  int tokens;
  double skew;
  bool other_gate;  // the other gate kind than the model's own
  GemmMode mode;
};

constexpr BenchOptions kCheckOnly{.flush_l2 = false, .block_host = false};  // the harness times nothing here

struct Tally {
  int passed = 0, failed = 0, skipped = 0;
  void record(const std::string& what, const Verification& v) {
    if (v.ok()) {
      ++passed;
      std::cout << "ok    " << what << (v.detail.empty() ? "" : ": " + v.detail) << "\n";
    } else {
      ++failed;
      std::cout << fmt::format("FAIL  {}: {} of {} checked values wrong: {}\n", what, v.wrong, v.checked, v.detail);
    }
  }
};

GateConfig other_gate(const GateConfig& own) {
  GateConfig g = own;
  if (own.kind == GateKind::SoftmaxTopk) {
    g.kind = GateKind::SigmoidGroupTopk;
    g.n_group = own.experts % 8 == 0 && own.experts / 8 >= 2 && own.top_k <= 4 * (own.experts / 8) ? 8 : 1;
    g.topk_group = g.n_group == 8 ? 4 : 1;
    g.scaling = 2.5f;
  } else {
    g.kind = GateKind::SoftmaxTopk;
    g.n_group = g.topk_group = 1;
    g.scaling = 1.0f;
  }
  return g;
}

void check_layer(GpuSession& gpu, const ResolvedModel& model, const std::vector<Case>& cases, std::uint64_t seed,
                 Tally& tally) {
  const LayerShape shape = layer_shape(model);
  int max_tokens = 1;
  for (const Case& c : cases) max_tokens = std::max(max_tokens, c.tokens);
  std::string why;
  if (!layer_fits(shape, max_tokens, why)) {
    ++tally.skipped;
    std::cout << "SKIP  " << why << "\n";
    return;
  }
  MoeLayer layer(shape, max_tokens, GemmMode::Grouped, seed, gpu.cublas, gpu.stream);
  Harness harness(gpu.stream, kCheckOnly);
  for (const Case& c : cases) {
    layer.set_gate(c.other_gate ? other_gate(model.gate) : model.gate);
    layer.set_gemm_mode(c.mode);
    const GateArg g = zipf_gate(c.skew);
    layer.set_routing(synthetic_routing(g.spec, g.label, c.skew, shape.experts, shape.top_k, c.tokens,
                                        seed + static_cast<std::uint64_t>(c.tokens)));
    const std::string what = fmt::format("{} T={} {} {} {}:", shape.model, c.tokens, g.label,
                                         gate_kind_name(layer.shape().gate.kind), gemm_mode_name(c.mode));
    const auto step = [&](const std::unique_ptr<Operation>& op) {
      tally.record(fmt::format("{} {}", what, op->name()), harness.check(*op));
    };
    step(make_router_gemm_op(layer));
    step(make_topk_op(layer));
    step(make_permute_op(layer));
    step(make_experts_op(layer));
    step(make_combine_op(layer));
    step(make_layer_op(layer));  // made now: checked against the phases' output
  }
}

void check_device_kernels(GpuSession& gpu, std::uint64_t seed, Tally& tally) {
  Harness harness(gpu.stream, kCheckOnly);
  CopyBuffers copy(std::size_t{64} << 20, seed, gpu.stream);
  tally.record("copy: 16-byte vector kernel", harness.check(*make_copy_op(copy, CopyMethod::Vec16)));
  tally.record("copy: cudaMemcpyAsync", harness.check(*make_copy_op(copy, CopyMethod::Memcpy)));
  Bf16Gemm bf16(gpu.cublas, 1024, seed + 5, gpu.stream);
  tally.record("bf16 GEMM 1024^3 (cublasGemmEx)", harness.check(*make_bf16_gemm_op(bf16, 256)));
  Fp8Gemm fp8(gpu.lt, 1024, seed + 6, gpu.stream);
  if (!fp8.available()) {
    std::cout << "skip  fp8 GEMM: " << fp8.why_not() << "\n";
    return;
  }
  tally.record("fp8 e4m3 GEMM 1024^3 (cuBLASLt)", harness.check(*make_fp8_gemm_op(fp8, 256)));
}

int run_check(const CheckArgs& a) {
  GpuSession gpu;
  const DeviceInfo d = device_info();
  std::cout << fmt::format("checking kernels on {} (sm_{}{}, {:.1f} GB free)\n", d.name, d.sm_major, d.sm_minor,
                           d.free_GB);
  Tally tally;
  check_device_kernels(gpu, a.seed, tally);
  const std::vector<Case> cases{{1, 1.2, false, GemmMode::Grouped},
                                {5, 1.2, false, GemmMode::Grouped},
                                {1000, 0.0, false, GemmMode::Grouped},
                                {1000, 1.2, true, GemmMode::Loop},
                                {333, 0.6, true, GemmMode::Grouped}};
  std::size_t at = 0;
  while (at <= a.models.size()) {
    const std::size_t comma = std::min(a.models.find(',', at), a.models.size());
    ModelArgs ma;
    ma.model = a.models.substr(at, comma - at);
    check_layer(gpu, resolve_model(ma), cases, a.seed, tally);
    at = comma + 1;
  }
  // 60 experts (not a multiple of 4): the scalar top-k path, softmax and sigmoid with 4 groups.
  ModelArgs small;
  small.name = "custom-60e";
  small.hidden = 1024;
  small.experts = 60;
  small.top_k = 4;
  small.expert_ffn = 512;
  check_layer(gpu, resolve_model(small), {{333, 0.0, false, GemmMode::Grouped}, {64, 1.2, false, GemmMode::Loop}},
              a.seed, tally);
  small.gate_kind = "sigmoid_group_topk";
  small.n_group = 4;
  small.topk_group = 2;
  check_layer(gpu, resolve_model(small), {{257, 0.6, false, GemmMode::Grouped}}, a.seed, tally);
  std::cout << fmt::format("\n{} checks passed, {} failed, {} skipped\n", tally.passed, tally.failed, tally.skipped);
  return tally.failed > 0 ? 3 : 0;
}

}  // namespace

Runner add_check_command(CLI::App& app, const Argv&) {
  auto a = std::make_shared<CheckArgs>();
  CLI::App* sub = app.add_subcommand("check", "check every kernel against its CPU reference (nothing timed)");
  sub->add_option("--models", a->models, "model presets to check (default deepseek-v3,qwen3-30b-a3b)");
  sub->add_option("--seed", a->seed, "seed of the test inputs");
  return [sub, a]() { return sub->parsed() ? run_check(*a) : -1; };
}

}  // namespace moesim::calib
