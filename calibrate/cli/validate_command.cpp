// `moesim-calibrate validate`: whole single-GPU layers over a grid of models, token counts and
// routing skews, each beside the simulator's prediction (moesim::ComputeModel with a profile from
// --profile, or fitted here from a `kernels` sweep). Assumption: the simulator's gate phase
// includes the permute, and its model spec is the preset run in bf16 (spec_as_run).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <fstream>
#include <iostream>

#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "cli/validate_table.hpp"
#include "io/profile_io.hpp"
#include "ops/routing.hpp"

namespace moesim::calib {

namespace {

struct ValidateArgs {
  CommonArgs common;
  std::string profile;
  std::string profile_out;
  std::string base;
  std::string models = "deepseek-v3,qwen3-30b-a3b";
  std::string tokens = "16,48,128,384,1024,1536,3000,4096";  // 48, 384, 1536, 3000: between the fitted counts
  std::string skews = "0,0.3,0.6,0.9,1.2";  // the kernel fit has 0 and 1.0
  std::string gates = "lognormal:1";        // routings outside the fitted Zipf family
  std::string local_experts = "8,32";       // one GPU's experts under EP32 / EP8 of 256 (EP16 / EP4 of 128)
  std::string kernel_tokens;
  std::string kernel_skews = "0,1.0";
  std::string gemm = "grouped";
  std::string csv;
};

std::vector<std::string> split_names(const std::string& text, const char* option) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    if (comma == at) throw InputError(fmt::format("{} \"{}\": empty name", option, text));
    out.push_back(text.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

// Where a layer grid's measurements and predictions go, and what it runs with.
struct GridRun {
  const std::vector<int>& tokens;
  const std::vector<GateArg>& gates;
  GemmMode mode;
  const CommonArgs& common;
  GpuSession& gpu;
  fit::Measurements& all;
  std::vector<ValidateRow>& rows;
};

// Every token count x gate of `shape` measured as a whole layer and predicted with `profile` /
// `spec`; `seed_salt` tells the routings of different layer shapes apart.
void measure_grid(const LayerShape& shape, const std::string& title, unsigned seed_salt, const Profile& profile,
                  const ModelSpec& spec, GridRun& run) {
  const int max_tokens = *std::max_element(run.tokens.begin(), run.tokens.end());
  MoeLayer layer(shape, max_tokens, run.mode, run.common.seed, run.gpu.cublas, run.gpu.stream);
  Harness harness(run.gpu.stream, run.common.bench());
  const ResultTable table = layer_table();
  std::cout << "\nlayers of " << shape.model << " (" << title << ")\n" << table.header();
  for (int t : run.tokens)
    for (const GateArg& g : run.gates) {
      layer.set_routing(synthetic_routing(g.spec, g.label, g.skew, shape.experts, shape.top_k, t,
                                          run.common.seed * 7919u + static_cast<unsigned>(t) + seed_salt));
      const fit::LayerMeasurement lm = measure_layer(layer, harness, table, g.label, g.skew);
      run.all.layers.push_back(lm);
      const std::vector<ValidateRow> r = predict_layer(profile, spec, lm);
      run.rows.insert(run.rows.end(), r.begin(), r.end());
    }
  if (!harness.note().empty()) std::cout << "note: " << harness.note() << "\n";
}

// A GPU's slice of the experts under expert parallelism: `local` experts of the model's shape that
// receive the routed copies of `t` tokens (top_k each, spread over the slice by the gate), as if
// the EP group's dispatch had delivered them. Only the experts and combine phases are compared:
// the slice's router is not the model's.
void measure_slice(const ResolvedModel& model, int local, const Profile& profile, const ModelSpec& spec,
                   GridRun& run) {
  ModelArgs ma;
  ma.model = model.spec.name;
  ma.name = model.spec.name;  // the profile's tables are the model's
  ma.experts = local;
  ma.gate_kind = "softmax_topk";  // a slice has no expert groups
  const LayerShape shape = layer_shape(resolve_model(ma));
  std::string why;
  if (!layer_fits(shape, *std::max_element(run.tokens.begin(), run.tokens.end()), why)) {
    std::cout << "\nskipped " << local << "-expert slice: " << why << "\n";
    return;
  }
  measure_grid(shape,
               fmt::format("a {}-expert slice, one GPU under EP{}, bf16", local, model.spec.routed_experts / local),
               104729u * static_cast<unsigned>(local), profile, spec, run);
}

int run_validate(const ValidateArgs& a, const Argv& argv) {
  const std::vector<std::string> models = split_names(a.models, "--models");
  const std::vector<int> tokens = parse_int_list(a.tokens, "--tokens", 1, 1 << 20);
  std::vector<GateArg> gates;
  for (double skew : parse_double_list(a.skews, "--skews", 0, 20)) gates.push_back(zipf_gate(skew));
  if (!a.gates.empty())
    for (const std::string& g : split_names(a.gates, "--gates")) gates.push_back(parse_gate_arg(g));
  const GemmMode mode = parse_gemm_mode(a.gemm);
  const std::vector<int> kernel_tokens = a.kernel_tokens.empty()
                                             ? powers_of_two(kDefaultSweepMaxTokens)
                                             : parse_int_list(a.kernel_tokens, "--kernel-tokens", 1, 1 << 20);
  const std::vector<double> kernel_skews = parse_double_list(a.kernel_skews, "--kernel-skews", 0, 20);
  const std::vector<int> local_counts =
      a.local_experts.empty() ? std::vector<int>{} : parse_int_list(a.local_experts, "--local-experts", 1, 1 << 16);
  std::vector<ResolvedModel> resolved;
  for (const std::string& name : models) {
    ModelArgs ma;
    ma.model = name;
    resolved.push_back(resolve_model(ma));
  }
  const Profile given = a.profile.empty() ? Profile{} : io::load_profile(a.profile);

  GpuSession gpu;
  fit::Measurements all;
  all.meta = collect_meta(argv.argc, argv.argv, false);
  double copy_GBps = 0;
  if (a.profile.empty()) {
    copy_GBps = measure_copy(gpu, a.common.bench(), std::size_t{1} << 30, a.common.seed).best_GBps();
    all.device = fit::DeviceMeasurement{};
    all.device->copy_GBps = copy_GBps;
  }
  std::vector<ValidateRow> rows;
  std::vector<std::string> skipped;
  GridRun run{tokens, gates, mode, a.common, gpu, all, rows};
  for (const ResolvedModel& model : resolved) {
    const LayerShape shape = layer_shape(model);
    const int max_tokens = *std::max_element(tokens.begin(), tokens.end());
    std::string why;
    const int sweep_tokens = a.profile.empty() && !a.kernel_tokens.empty()
                                 ? *std::max_element(kernel_tokens.begin(), kernel_tokens.end())
                                 : 1;  // the default sweep trims itself to what fits
    if (!layer_fits(shape, std::max(max_tokens, sweep_tokens), why)) {
      std::cout << "\nskipped: " << why << "\n";
      skipped.push_back(shape.model);
      continue;
    }
    Profile profile = given;
    if (a.profile.empty()) {
      fit::Measurements km;
      km.meta = all.meta;
      km.device = all.device;
      KernelSweep sweep{model,     kernel_tokens,           kernel_skews,
                        mode,      a.common.bench(),        a.common.seed,
                        copy_GBps, a.kernel_tokens.empty(), {}};
      run_kernel_sweep(gpu, sweep, km);
      const std::string out =
          a.profile_out.empty() || models.size() == 1 ? a.profile_out : path_with_suffix(a.profile_out, shape.model);
      profile = fit_and_write_profile(km, a.base, shape.model, out);
      all.kernels.insert(all.kernels.end(), km.kernels.begin(), km.kernels.end());
    }
    const ModelSpec spec = spec_as_run(model.spec, 2);
    measure_grid(shape, "all experts on one GPU, bf16", 0, profile, spec, run);
    for (int local : local_counts)
      if (local < shape.experts && local >= shape.top_k) measure_slice(model, local, profile, spec, run);
  }
  if (rows.empty()) throw Error("validate: no model fits on this GPU; nothing measured");
  std::cout << "\nsimulator prediction vs measurement ("
            << (a.profile.empty() ? "profile fitted in this run" : a.profile) << ")\n"
            << validate_table_text(rows);
  if (!skipped.empty()) std::cout << fmt::format("skipped (do not fit): {}\n", fmt::join(skipped, ", "));
  if (!a.csv.empty()) {
    std::ofstream f(a.csv);
    f << validate_csv(rows);
    f.close();
    if (!f) throw Error(fmt::format("cannot write {}", a.csv));
    std::cout << fmt::format("table written to {}\n", a.csv);
  }
  save_measurements_to(all, a.common.out, a.common.merge);
  return 0;
}

}  // namespace

Runner add_validate_command(CLI::App& app, const Argv& argv) {
  auto a = std::make_shared<ValidateArgs>();
  CLI::App* sub = app.add_subcommand("validate", "measure whole layers over a grid and compare with the simulator");
  add_common_options(sub, a->common);
  sub->add_option("--profile", a->profile, "profile to predict with (default: run `kernels` and fit one here)");
  sub->add_option("--profile-out", a->profile_out,
                  "write the fitted profile here (one file per model: NAME.MODEL.toml)");
  sub->add_option("--base", a->base, "base profile of the fit (default calibrate/profiles/h100-sxm-datasheet.toml)");
  sub->add_option("--models", a->models, "model presets (default deepseek-v3,qwen3-30b-a3b)");
  sub->add_option("--tokens", a->tokens, "layer token counts (default 16,48,128,384,1024,1536,3000,4096)");
  sub->add_option("--skews", a->skews, "Zipf exponents of the routing (default 0,0.3,0.6,0.9,1.2)");
  sub->add_option("--local-experts", a->local_experts,
                  "also layers over a slice of this many experts, one GPU's share under EP (experts and combine "
                  "compared; default 8,32; \"\" = none)");
  sub->add_option("--gates", a->gates,
                  "further routings at every token count, comma-separated gate specs such as lognormal:1 (always "
                  "held out; default lognormal:1; \"\" = none)");
  sub->add_option("--kernel-tokens", a->kernel_tokens,
                  "token counts of the kernel sweep (default 1,2,...,32768, as far as memory holds)");
  sub->add_option("--kernel-skews", a->kernel_skews, "skews of the kernel sweep (default 0,1.0)");
  sub->add_option("--gemm", a->gemm, "expert GEMMs: grouped | loop");
  sub->add_option("--csv", a->csv, "write the comparison table as CSV");
  return [sub, a, argv]() { return sub->parsed() ? run_validate(*a, argv) : -1; };
}

}  // namespace moesim::calib
