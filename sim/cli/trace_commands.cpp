// `moesim trace gen | import | stats` (see trace_commands.hpp).
#include "cli/trace_commands.hpp"

#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "io/trace_import.hpp"
#include "io/trace_stats_io.hpp"
#include "moe/gate.hpp"
#include "moe/trace_generate.hpp"
#include "report/trace_stats.hpp"

namespace moesim::cli {

namespace {

struct GenArgs {
  std::string scenario;
  std::vector<std::string> sets;
  std::string out;
  int steps = 0;
  int ranks = 0;
  int tokens = 0;
};

struct ImportArgs {
  std::string kind;
  std::string in;
  std::string out;
  io::ImportOptions opt;
};

struct StatsArgs {
  std::string file;
  bool json = false;
  int top_experts = 8;
  int top_pairs = 10;
};

void run_gen(const GenArgs& a) {
  const Scenario s = io::load_scenario(a.scenario, a.sets);
  if (!s.trace_path.empty())
    throw InputError(fmt::format("{}: trace gen needs a synthetic gate, not kind = \"trace\"", a.scenario));
  TraceGenSpec spec;
  spec.steps = a.steps > 0 ? a.steps : s.workload.steps;
  spec.layers = s.model.moe_layers();
  spec.ranks = a.ranks > 0 ? a.ranks : (s.ep_size > 0 ? s.ep_size : 0);
  if (spec.ranks == 0) throw InputError(fmt::format("{}: parallelism.ep is 0 (all GPUs); give --ranks", a.scenario));
  spec.tokens_per_rank = a.tokens > 0 ? a.tokens : s.workload.tokens_per_gpu;
  auto gate = make_synthetic_gate(s.gate, s.model.routed_experts, s.model.top_k, spec.layers, s.seed, spec.ranks);
  const std::uint64_t n = generate_trace(*gate, spec, a.out);
  std::cout << fmt::format(
      "wrote {}: {} steps x {} MoE layers x {} ranks x {} tokens, top-{} of {} experts ({} "
      "assignments, gate {})\n",
      a.out, spec.steps, spec.layers, spec.ranks, spec.tokens_per_rank, s.model.top_k, s.model.routed_experts, n,
      setting_name(s.gate.kind));
}

void run_import(const ImportArgs& a) {
  const io::ImportResult r = io::import_trace(a.kind, a.in, a.out, a.opt);
  std::cout << fmt::format("wrote {}: {} steps, {} MoE layers, {} ranks, {} experts, top-{}{}, {} token-layer rows\n",
                           a.out, r.steps, r.header.layers, r.header.ranks, r.header.experts, r.header.top_k,
                           r.header.counts_only() ? " (counts only)" : "", r.tokens);
  for (const auto& n : r.notes) std::cout << "note: " << n << "\n";
}

void run_stats(const StatsArgs& a) {
  TraceReader reader(a.file);
  const TraceStats st = compute_trace_stats(reader, a.top_pairs, a.top_experts);
  std::cout << (a.json ? io::trace_stats_json(st) : io::trace_stats_text(st));
}

}  // namespace

std::function<bool()> add_trace_commands(CLI::App& app) {
  auto gen = std::make_shared<GenArgs>();
  auto imp = std::make_shared<ImportArgs>();
  auto stats = std::make_shared<StatsArgs>();

  CLI::App* trace = app.add_subcommand("trace", "generate, import and inspect routing traces");
  trace->require_subcommand(1);

  CLI::App* g = trace->add_subcommand("gen", "write a trace from a scenario's synthetic gate");
  g->add_option("scenario", gen->scenario, "scenario TOML (its model and [gate] section)")->required();
  g->add_option("-o,--out", gen->out, "trace file to write")->required();
  g->add_option("--set", gen->sets, "override a scenario key")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  g->add_option("--steps", gen->steps, "steps (default: workload.steps)")->check(CLI::Range(1, 1000000));
  g->add_option("--ranks", gen->ranks, "source ranks (default: parallelism.ep)")->check(CLI::Range(1, 65536));
  g->add_option("--tokens", gen->tokens, "tokens per rank per step (default: workload.tokens_per_gpu)")
      ->check(CLI::Range(1, 1 << 24));

  CLI::App* i = trace->add_subcommand("import", "convert serving-stack routing data to a trace");
  i->add_option("kind", imp->kind, "rows (CSV/JSONL), npy (ids [tokens, layers, top_k]) or counts (CSV/.npy)")
      ->required()
      ->check(CLI::IsMember({"rows", "npy", "counts"}));
  i->add_option("input", imp->in, "input file")->required();
  i->add_option("-o,--out", imp->out, "trace file to write")->required();
  i->add_option("--format", imp->opt.format, "rows: csv or jsonl; counts: csv or npy (default: by file extension)");
  i->add_option("--layers", imp->opt.layers, "MoE layers (default: inferred)")->check(CLI::Range(0, 4096));
  i->add_option("--ranks", imp->opt.ranks, "source ranks (default: inferred)")->check(CLI::Range(0, 65536));
  i->add_option("--experts", imp->opt.experts, "routed experts (default: max id + 1)")->check(CLI::Range(0, 1 << 20));
  i->add_option("--top-k", imp->opt.top_k, "experts per token (default: inferred)")->check(CLI::Range(0, 64));
  i->add_option("--tokens-per-rank", imp->opt.tokens_per_rank, "npy: tokens per rank per step (default: one step)")
      ->check(CLI::Range(0, 1 << 24));

  CLI::App* s = trace->add_subcommand("stats", "per-layer load, skew, top experts, co-selection and drift");
  s->add_option("file", stats->file, "trace file")->required();
  s->add_flag("--json", stats->json, "print JSON instead of text");
  s->add_option("--top-experts", stats->top_experts, "experts listed per layer")->check(CLI::Range(1, 1 << 20));
  s->add_option("--top-pairs", stats->top_pairs, "co-selected pairs listed per layer")->check(CLI::Range(1, 10000));

  return [=]() {
    if (g->parsed())
      run_gen(*gen);
    else if (i->parsed())
      run_import(*imp);
    else if (s->parsed())
      run_stats(*stats);
    else
      return false;
    return true;
  };
}

}  // namespace moesim::cli
