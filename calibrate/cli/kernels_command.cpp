// `moesim-calibrate kernels`: the MoE kernels of one model over token counts and routing skews.
// The gate runs on its own random inputs; permute, experts and combine follow a synthetic Zipf
// routing (moesim's Gate, expert 0 the most popular), so the load per expert is the skew asked
// for (assumption: kernel times depend on the loads, not on which router produced them).
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <iostream>

#include "bench/cuda_check.hpp"
#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "fit/profile_fit.hpp"
#include "io/profile_io.hpp"
#include "kernels/fp8_layout.hpp"
#include "ops/experts_fp8_op.hpp"
#include "ops/layer_ops.hpp"
#include "ops/routing.hpp"

namespace moesim::calib {

namespace {

struct KernelsArgs {
  CommonArgs common;
  ModelArgs model;
  std::string tokens = "";
  std::string skews = "0,1.0";
  std::string gemm = "grouped";
  double copy_GBps = 0;
  std::string profile_out;
  std::string base;
  std::string expert_calls = kDefaultExpertCalls;
  std::string precision = "bf16";
};

// The expert weights' precision of a run: bf16 (every kernel) or fp8 (the expert FFN alone).
enum class ExpertPrecision { Bf16, Fp8 };
ExpertPrecision parse_precision(const std::string& text) {
  if (text == "bf16") return ExpertPrecision::Bf16;
  if (text == "fp8") return ExpertPrecision::Fp8;
  throw InputError(fmt::format("--precision \"{}\": expected bf16 or fp8", text));
}

fit::KernelMeasurement row(const std::string& kernel, const std::string& model, double skew, std::int64_t tokens,
                           const OpResult& r) {
  fit::KernelMeasurement k;
  k.kernel = kernel;
  k.model = model;
  k.skew = skew;
  k.tokens = tokens;
  k.median_us = r.time.median_us;
  k.p10_us = r.time.p10_us;
  k.p90_us = r.time.p90_us;
  k.bytes = r.bytes;
  k.repeats = r.time.repeats;
  return k;
}

// An expert row: tokens = token copies over the grouped GEMM, experts = experts given tokens.
fit::KernelMeasurement expert_row(const std::string& model, double skew, std::int64_t copies, const OpResult& r,
                                  int active_experts, double weight_bytes = 2) {
  fit::KernelMeasurement k = row("expert", model, skew, copies, r);
  k.experts = active_experts;
  k.tokens_per_expert = static_cast<double>(k.tokens) / k.experts;
  k.weight_bytes = weight_bytes;
  return k;
}

// Token t takes experts (t k + j) mod `calls`, j < k: each of the `calls` experts gets exactly
// tokens x k / calls copies (when that divides), and a token's k experts are distinct (k <= calls).
Routing even_routing(int calls, int top_k, int tokens, int experts) {
  Routing r;
  r.tokens = tokens;
  r.top_k = top_k;
  r.experts = experts;
  r.label = fmt::format("even:{}", calls);
  r.ids.resize(static_cast<std::size_t>(tokens) * top_k);
  r.weights.assign(r.ids.size(), 1.0f / static_cast<float>(top_k));
  for (std::size_t i = 0; i < r.ids.size(); ++i)
    r.ids[i] = static_cast<std::int32_t>(i % static_cast<std::size_t>(calls));
  return r;
}

// The rows of one kernels table: tokens, skew, kernel; `copy_GBps` fills the copy column of
// memory-bound kernels.
struct SweepTable {
  ResultTable table;
  double copy_GBps = 0;
  OpResult measure(Harness& harness, Operation& op, const std::string& kernel, int tokens, double skew,
                   bool memory_bound) const {
    return measure_row(harness, op, table, {std::to_string(tokens), fmt::format("{:.2f}", skew), kernel},
                       memory_bound ? copy_GBps : 0);
  }
};

// Per-expert cost by load when only `calls` experts share the grouped GEMM (fit: expert_e<N>_us).
void run_expert_calls(MoeLayer& layer, Harness& harness, const SweepTable& table, const KernelSweep& sw, int max_tokens,
                      cudaStream_t stream, fit::Measurements& out) {
  const LayerShape& shape = layer.shape();
  const int e = shape.experts, k = shape.top_k;
  for (int calls : sw.expert_calls) {
    if (calls < k || calls >= e || calls % k != 0) {
      std::cout << fmt::format("expert calls: {} experts per call skipped (needs a multiple of top-k {} below {})\n",
                               calls, k, e);
      continue;
    }
    for (int n = 1; n <= 16384; n *= 4) {
      const long long tokens = static_cast<long long>(n) * calls / k;
      if (tokens > max_tokens) break;
      layer.set_routing(even_routing(calls, k, static_cast<int>(tokens), e));
      layer.permute(stream);
      MOESIM_CUDA_CHECK(cudaStreamSynchronize(stream));
      const std::unique_ptr<Operation> op = make_experts_op(layer);
      const OpResult r =
          table.measure(harness, *op, fmt::format("expert/{}", calls), static_cast<int>(tokens), 0, false);
      out.kernels.push_back(expert_row(shape.model, 0, tokens * k, r, layer.ffn().active_experts()));
    }
  }
}

int run_kernels(const KernelsArgs& a, const Argv& argv) {
  const ExpertPrecision precision = parse_precision(a.precision);
  if (precision == ExpertPrecision::Fp8 && !a.profile_out.empty())
    throw InputError(
        "--profile-out with --precision fp8: an fp8 run records only expert rows; merge it into a bf16 kernels "
        "run (--out FILE --merge) and fit that file with moesim-fit");
  KernelSweep sweep;
  sweep.model = resolve_model(a.model);
  sweep.tokens =
      a.tokens.empty() ? powers_of_two(kDefaultSweepMaxTokens) : parse_int_list(a.tokens, "--tokens", 1, 1 << 20);
  sweep.trim_to_fit = a.tokens.empty();
  if (a.expert_calls != "none") sweep.expert_calls = parse_int_list(a.expert_calls, "--expert-calls", 1, 1 << 20);
  sweep.skews = parse_double_list(a.skews, "--skews", 0, 20);
  sweep.mode = parse_gemm_mode(a.gemm);
  sweep.bench = a.common.bench();
  sweep.seed = a.common.seed;
  GpuSession gpu;
  fit::Measurements m;
  m.meta = collect_meta(argv.argc, argv.argv, false);
  if (precision == ExpertPrecision::Fp8) {
    const DeviceInfo d = device_info();
    if (d.sm_major * 10 + d.sm_minor < 89)
      throw InputError(fmt::format(
          "--precision fp8: {} (sm_{}{}) has no fp8 tensor cores; fp8 expert rows need sm_89 or newer (H100, H200)",
          d.name, d.sm_major, d.sm_minor));
    run_fp8_expert_sweep(gpu, sweep, m);
    save_measurements_to(m, a.common.out, a.common.merge);
    return 0;
  }
  sweep.copy_GBps = a.copy_GBps;
  if (!(sweep.copy_GBps > 0)) {
    const CopyResult c = measure_copy(gpu, a.common.bench(), std::size_t{1} << 30, a.common.seed);
    sweep.copy_GBps = c.best_GBps();
    m.device = fit::DeviceMeasurement{};
    m.device->copy_GBps = sweep.copy_GBps;
    std::cout << fmt::format("copy bandwidth measured in this run: {:.0f} GB/s\n", sweep.copy_GBps);
  }
  run_kernel_sweep(gpu, sweep, m);
  save_measurements_to(m, a.common.out, a.common.merge);
  if (!a.profile_out.empty()) fit_and_write_profile(m, a.base, sweep.model.spec.name, a.profile_out);
  return 0;
}

}  // namespace

void run_kernel_sweep(GpuSession& gpu, const KernelSweep& given, fit::Measurements& out) {
  const LayerShape shape = layer_shape(given.model);
  KernelSweep sw = given;
  std::string why;
  // Default sweeps ascend (powers of two): drop from the back until the largest fits.
  while (sw.trim_to_fit && sw.tokens.size() > 1 && !layer_fits(shape, sw.tokens.back(), why)) {
    sw.tokens.pop_back();
    std::cout << fmt::format("sweep trimmed to {} tokens: {}\n", sw.tokens.back(), why);
  }
  const int max_tokens = *std::max_element(sw.tokens.begin(), sw.tokens.end());
  check_layer_fits(shape, max_tokens);
  MoeLayer layer(shape, max_tokens, sw.mode, sw.seed, gpu.cublas, gpu.stream);
  Harness harness(gpu.stream, sw.bench);
  const std::string& model = shape.model;
  const int e = shape.experts, k = shape.top_k;
  const SweepTable table{ResultTable({{"tokens", "", 7}, {"skew", "", 5}, {"kernel", "", 14, true}},
                                     {.of_copy = sw.copy_GBps > 0, .tflops = true}),
                         sw.copy_GBps};
  std::cout << fmt::format("\nkernels of {} (hidden {}, {} experts, top-{}, expert ffn {}), gate {}, expert GEMMs {}\n",
                           model, shape.hidden, e, k, shape.ffn, gate_kind_name(shape.gate.kind),
                           gemm_mode_name(sw.mode))
            << table.table.header();
  for (int t : sw.tokens) {
    for (std::size_t si = 0; si < sw.skews.size(); ++si) {
      const double skew = sw.skews[si];
      const GateArg g = zipf_gate(skew);
      layer.set_routing(
          synthetic_routing(g.spec, g.label, skew, e, k, t, sw.seed * 1000003u + static_cast<unsigned>(t)));
      if (si == 0) {  // the gate does not depend on the routing: once per token count, recorded as skew 0
        table.measure(harness, *make_router_gemm_op(layer), "router GEMM", t, 0, false);
        table.measure(harness, *make_topk_op(layer), "top-k", t, 0, true);
        const OpResult gate = table.measure(harness, *make_gate_op(layer), "gate", t, 0, false);
        fit::KernelMeasurement r = row("gate", model, 0, t, gate);
        r.gate_kind = gate_kind_name(shape.gate.kind);
        out.kernels.push_back(r);
      }
      const OpResult permute = table.measure(harness, *make_permute_op(layer), "permute", t, skew, true);
      out.kernels.push_back(row("permute", model, skew, t, permute));
      const OpResult expert = table.measure(harness, *make_experts_op(layer), "expert", t, skew, false);
      const std::int64_t copies = static_cast<std::int64_t>(t) * k;
      out.kernels.push_back(expert_row(model, skew, copies, expert, layer.ffn().active_experts()));
      table.measure(harness, *make_swiglu_op(layer), "  SwiGLU", t, skew, true);
      const OpResult combine = table.measure(harness, *make_combine_op(layer), "combine", t, skew, true);
      out.kernels.push_back(row("combine", model, skew, copies, combine));
    }
  }
  if (!sw.expert_calls.empty()) run_expert_calls(layer, harness, table, sw, max_tokens, gpu.stream, out);
  if (!layer.ffn().note().empty()) std::cout << "note: " << layer.ffn().note() << "\n";
  if (!harness.note().empty()) std::cout << "note: " << harness.note() << "\n";
  std::cout << "expert rows: experts = experts given tokens, tokens_per_expert = token copies / those experts "
               "(with skew > 0 the loads are unequal: the mean is recorded)\n";
}

void run_fp8_expert_sweep(GpuSession& gpu, const KernelSweep& sw, fit::Measurements& out) {
  const LayerShape shape = layer_shape(sw.model);
  const int e = shape.experts, k = shape.top_k;
  if (shape.hidden % kFp8Block != 0 || shape.ffn % kFp8Block != 0)
    throw InputError(
        fmt::format("--precision fp8: hidden ({}) and expert ffn ({}) must be multiples of 128 (one "
                    "scale per 128 columns, 128 x 128 weight blocks)",
                    shape.hidden, shape.ffn));
  // Even loads: the first `calls` experts get `load` rows each (tokens x k = calls x load copies).
  struct Config {
    int calls = 0, load = 0;
    std::int64_t tokens = 0, padded_rows = 0;
  };
  std::vector<int> calls_list{e};
  for (int calls : sw.expert_calls) {
    if (calls < k || calls >= e || calls % k != 0)
      std::cout << fmt::format("expert calls: {} experts per call skipped (needs a multiple of top-k {} below {})\n",
                               calls, k, e);
    else
      calls_list.push_back(calls);
  }
  const int max_tokens = *std::max_element(sw.tokens.begin(), sw.tokens.end());
  std::vector<Config> configs;
  for (int calls : calls_list) {
    if (calls % k != 0) {
      std::cout << fmt::format("fp8 expert: all {} experts per call skipped (not a multiple of top-k {})\n", calls, k);
      continue;
    }
    for (int load = 1; load <= 16384; load *= 4) {
      const std::int64_t tokens = static_cast<std::int64_t>(load) * calls / k;
      if (tokens > max_tokens) break;
      configs.push_back({calls, load, tokens, static_cast<std::int64_t>(calls) * fp8_padded_rows(load)});
    }
  }
  if (configs.empty())
    throw InputError(fmt::format("--precision fp8: no even-load configuration within {} tokens", max_tokens));
  const Fp8ExpertsShape fshape{shape.model, shape.hidden, e, shape.ffn};
  const auto max_rows = [&] {
    std::int64_t rows = 0;
    for (const Config& c : configs) rows = std::max(rows, c.padded_rows);
    return rows;
  };
  std::string why;
  while (!device_fits(Fp8Experts::device_bytes(fshape, max_rows()),
                      fmt::format("{} in fp8 (all {} experts) with {} rows", shape.model, e, max_rows()), why)) {
    if (!sw.trim_to_fit || configs.size() == 1) throw Error(why);
    const std::int64_t drop = max_rows();
    std::erase_if(configs, [&](const Config& c) { return c.padded_rows == drop; });
    std::cout << "fp8 sweep trimmed: " << why << "\n";
  }
  Fp8Experts experts(fshape, max_rows(), sw.seed, gpu.lt, gpu.stream);
  const SweepTable table{
      ResultTable({{"tokens", "", 7}, {"skew", "", 5}, {"kernel", "", 14, true}}, {.of_copy = false, .tflops = true}),
      0};
  std::cout << fmt::format(
                   "\nfp8 expert FFN of {} (hidden {}, {} experts, top-{}, expert ffn {}): e4m3, {} scales, one "
                   "cuBLASLt matmul per expert and projection, each expert's rows padded to a multiple of {}\n",
                   shape.model, shape.hidden, e, k, shape.ffn, fp8_scale_mode_name(experts.ffn().scale_mode()),
                   kFp8RowAlign)
            << table.table.header();
  std::string harness_note;
  for (const Config& c : configs) {
    std::vector<int> counts(static_cast<std::size_t>(e), 0);
    std::fill(counts.begin(), counts.begin() + c.calls, c.load);
    experts.set_counts(counts, gpu.stream);
    // The rows become the profile's fp8 tables, whose citation names the block scales: a fallback
    // to one scale per tensor would mix another recipe into them.
    if (experts.ffn().scale_mode() != Fp8ScaleMode::Block)
      throw Error(fmt::format("--precision fp8: {}; no rows recorded for a table of mixed recipes",
                              experts.ffn().note()));
    const std::unique_ptr<Operation> op = make_experts_fp8_op(experts);
    // One run queues two matmuls per expert and the SwiGLU: a batch of runs must stay within the
    // stream's launch queue (about 1,000), or the blocking kernel that holds it times out.
    BenchOptions bench = sw.bench;
    bench.batch = std::clamp(800 / (2 * c.calls + 1), 1, 16);
    Harness harness(gpu.stream, bench);
    const OpResult r =
        table.measure(harness, *op, fmt::format("fp8 expert/{}", c.calls), static_cast<int>(c.tokens), 0, false);
    out.kernels.push_back(expert_row(shape.model, 0, c.tokens * k, r, experts.ffn().active_experts(), 1));
    if (!harness.note().empty()) harness_note = harness.note();
  }
  if (!harness_note.empty()) std::cout << "note: " << harness_note << "\n";
  std::cout << "gate, permute and combine not measured: they do not depend on the expert precision (merge this run "
               "into a bf16 kernels run with --merge); skews and --gemm apply to bf16 runs only\n";
}

Profile fit_and_write_profile(const fit::Measurements& m, const std::string& base_path, const std::string& model,
                              const std::string& out_path) {
  const std::string base_file =
      base_path.empty() ? std::string(MOESIM_SOURCE_DIR) + "/calibrate/profiles/h100-sxm-datasheet.toml" : base_path;
  const Profile base = io::load_profile(base_file);
  fit::FitOptions options;
  options.model = model;
  const fit::FitReport report = fit::fit_profile(m, base, options);
  std::cout << fmt::format("\nprofile fitted for {} over {}:\n", model, base_file);
  for (const std::string& n : report.notes) std::cout << "  " << n << "\n";
  if (!out_path.empty()) {
    std::ofstream f(out_path);
    io::write_profile(report.profile, f);
    f.close();
    if (!f) throw Error(fmt::format("cannot write {}", out_path));
    std::cout << fmt::format("profile written to {}\n", out_path);
  }
  return report.profile;
}

Runner add_kernels_command(CLI::App& app, const Argv& argv) {
  auto a = std::make_shared<KernelsArgs>();
  CLI::App* sub = app.add_subcommand("kernels", "time gate, permute, expert FFN and combine over tokens and skews");
  add_common_options(sub, a->common);
  add_model_options(sub, a->model);
  sub->add_option("--tokens", a->tokens,
                  "token counts, e.g. 1,16,256 (default 1,2,4,...,32768, as far as the GPU's memory holds)");
  sub->add_option("--skews", a->skews, "Zipf exponents of the routing (default 0,1.0)");
  sub->add_option("--gemm", a->gemm, "expert GEMMs: grouped (cublasGemmGroupedBatchedEx) | loop (cublasGemmEx)");
  sub->add_option("--copy-GBps", a->copy_GBps, "copy bandwidth for the copy (%) column (default: measured now)");
  sub->add_option("--profile-out", a->profile_out, "also fit a profile (moesim::fit) and write it here");
  sub->add_option("--base", a->base, "base profile of the fit (default calibrate/profiles/h100-sxm-datasheet.toml)");
  sub->add_option("--expert-calls", a->expert_calls,
                  "also time the expert FFN with even loads over this many experts per call (default 8,16,32,64; "
                  "none to skip)");
  sub->add_option("--precision", a->precision,
                  "expert weights: bf16 (default; every kernel) | fp8 (e4m3 with DeepSeek-V3 block scales: the "
                  "expert FFN alone with even loads, rows with weight_bytes 1, to --merge into a bf16 run)");
  return [sub, a, argv]() { return sub->parsed() ? run_kernels(*a, argv) : -1; };
}

}  // namespace moesim::calib
