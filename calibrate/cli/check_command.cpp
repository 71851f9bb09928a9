// `moesim-calibrate check`: every kernel against its CPU reference, nothing timed. Small and
// medium token counts of deepseek-v3 and qwen3-30b-a3b (both gate kinds, grouped and loop expert
// GEMMs, uniform and skewed routing), a 60-expert shape for the scalar top-k path, and the
// device-ceiling kernels. Exit 3 when any result differs from its reference.
#include <fmt/format.h>

#include <functional>
#include <iostream>

#include "bench/timer.hpp"
#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "kernels/device_gemm.hpp"
#include "kernels/fill.hpp"
#include "kernels/host_values.hpp"
#include "kernels/routing.hpp"

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

struct Tally {
  int passed = 0, failed = 0, skipped = 0;
  void run(const std::string& what, const std::function<std::string()>& check) {
    try {
      const std::string detail = check();
      ++passed;
      std::cout << "ok    " << what << (detail.empty() ? "" : ": " + detail) << "\n";
    } catch (const VerifyError& e) {
      ++failed;
      std::cout << "FAIL  " << what << ": " << e.what() << "\n";
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
  for (const Case& c : cases) {
    layer.set_gate(c.other_gate ? other_gate(model.gate) : model.gate);
    layer.set_gemm_mode(c.mode);
    const GateArg g = zipf_gate(c.skew);
    layer.set_routing(synthetic_routing(g.spec, g.label, c.skew, shape.experts, shape.top_k, c.tokens,
                                        seed + static_cast<std::uint64_t>(c.tokens)));
    const std::string what = fmt::format("{} T={} {} {} {}:", shape.model, c.tokens, g.label,
                                         gate_kind_name(layer.shape().gate.kind), gemm_mode_name(c.mode));
    const auto step = [&](const char* phase, const std::function<void(cudaStream_t)>& op,
                          const std::function<std::string()>& verify) {
      tally.run(fmt::format("{} {}", what, phase), [&] {
        op(gpu.stream);
        sync_and_check(gpu.stream, phase);
        return verify();
      });
    };
    step("router GEMM", [&](cudaStream_t s) { layer.router_gemm(s); }, [&] { return layer.verify_router(); });
    step("top-k", [&](cudaStream_t s) { layer.topk(s); }, [&] { return layer.verify_topk(); });
    step("permute", [&](cudaStream_t s) { layer.permute(s); }, [&] { return layer.verify_permute(); });
    step("experts", [&](cudaStream_t s) { layer.experts(s); }, [&] { return layer.verify_experts(); });
    step("combine", [&](cudaStream_t s) { layer.combine(s); }, [&] { return layer.verify_combine(); });
    layer.save_output();
    step("whole layer", [&](cudaStream_t s) { layer.layer(s); }, [&] { return layer.verify_output(); });
  }
}

void check_device_kernels(GpuSession& gpu, std::uint64_t seed, Tally& tally) {
  const std::size_t words = std::size_t{16} << 20;  // 64 MiB
  DeviceBuffer<std::uint32_t> src(words), dst(words);
  fill_words(src.get(), words, seed, gpu.stream);
  const auto verify_copy = [&] {
    const std::vector<std::uint32_t> got = dst.to_host();
    for (std::size_t i = 0; i < words; ++i)
      if (got[i] != word_test_value(seed, i)) throw VerifyError(fmt::format("word {} differs", i));
    MOESIM_CUDA_CHECK(cudaMemsetAsync(dst.get(), 0, dst.bytes(), gpu.stream));
    sync_and_check(gpu.stream, "clearing the copy destination");
    return fmt::format("{} MiB bit-exact", words * 4 >> 20);
  };
  MOESIM_CUDA_CHECK(cudaMemsetAsync(dst.get(), 0, dst.bytes(), gpu.stream));
  tally.run("copy: 16-byte vector kernel", [&] {
    copy_vec16(src.get(), dst.get(), src.bytes(), gpu.stream);
    sync_and_check(gpu.stream, "copy");
    return verify_copy();
  });
  tally.run("copy: cudaMemcpyAsync", [&] {
    MOESIM_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), src.bytes(), cudaMemcpyDeviceToDevice, gpu.stream));
    sync_and_check(gpu.stream, "copy");
    return verify_copy();
  });
  Bf16Gemm bf16(gpu.cublas, 1024, seed + 5, gpu.stream);
  tally.run("bf16 GEMM 1024^3 (cublasGemmEx)", [&] {
    bf16.run(gpu.stream);
    sync_and_check(gpu.stream, "bf16 GEMM");
    const CompareResult r = bf16.verify(256);
    if (!r.ok()) throw VerifyError(r.describe("sampled outputs"));
    return r.describe("sampled outputs");
  });
  Fp8Gemm fp8(gpu.lt, 1024, seed + 6, gpu.stream);
  if (!fp8.available()) {
    std::cout << "skip  fp8 GEMM: " << fp8.why_not() << "\n";
    return;
  }
  tally.run("fp8 e4m3 GEMM 1024^3 (cuBLASLt)", [&] {
    fp8.run(gpu.stream);
    sync_and_check(gpu.stream, "fp8 GEMM");
    const CompareResult r = fp8.verify(256);
    if (!r.ok()) throw VerifyError(r.describe("sampled outputs"));
    return r.describe("sampled outputs");
  });
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
