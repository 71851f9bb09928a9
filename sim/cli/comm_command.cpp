// `moesim comm` (see comm_command.hpp).
#include "cli/comm_command.hpp"

#include <fmt/format.h>

#include <cmath>
#include <iostream>
#include <memory>

#include "comm/comm_benchmark.hpp"
#include "core/error.hpp"
#include "io/comm_setup_io.hpp"
#include "io/csv_writer.hpp"
#include "io/profile_io.hpp"

namespace moesim::cli {

namespace {

struct CommArgs {
  io::CommSetup setup;
  std::string routing = "uniform";
  std::string network = "analytic";
  std::string csv;
  std::vector<std::string> check;
};

struct Ran {
  EpKernel kernel;
  CommBenchResult result;
};

Ran run_setup(const io::CommSetup& c) {
  const Topology topology = io::load_topology_nodes(c.topology, c.nodes);
  const Profile profile = io::load_profile(c.profile);
  EpKernel kernel = EpKernel::from_profile(profile, c.kernel, c.profile);
  if (c.sms > 0) kernel.params.sms = c.sms;
  return {kernel, run_comm_benchmark(topology, profile, kernel, c.spec)};
}

void print_run(const io::CommSetup& c, const Ran& ran) {
  const CommBenchResult& r = ran.result;
  std::cout << fmt::format(
      "kernel {} ({}, {} SMs), EP{} over {} NVLink domain{}, {} tokens per GPU, top-{} of {} experts\n",
      ran.kernel.name, setting_name(r.mode), ran.kernel.params.sms, r.ep, r.domains, r.domains == 1 ? "" : "s",
      c.spec.tokens, c.spec.top_k, c.spec.experts);
  std::cout << fmt::format("{:<9} {:>9} {:>9} {:>10} {:>10} {:>10} {:>10} {:>11}\n", "phase", "mean_us", "max_us",
                           "nvl_GBps", "rdma_GBps", "ll_GBps", "logic_GBps", "bytes/copy");
  for (const char* phase : {"dispatch", "combine"}) {
    const std::string p(phase);
    std::cout << fmt::format("{:<9} {:>9.1f} {:>9.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>10.1f} {:>11.0f}\n", p,
                             comm_metric(r, p + "_us"), comm_metric(r, p + "_max_us"), comm_metric(r, p + "_nvl_GBps"),
                             comm_metric(r, p + "_rdma_GBps"), comm_metric(r, p + "_ll_GBps"),
                             comm_metric(r, p + "_logical_GBps"), p == "dispatch" ? r.dispatch_bytes : r.combine_bytes);
  }
  std::cout << fmt::format("nccl-tests view of the dispatch: algbw {:.1f} GB/s, busbw {:.1f} GB/s\n",
                           comm_metric(r, "alltoall_algbw_GBps"), comm_metric(r, "alltoall_busbw_GBps"));
}

void write_csv(const std::string& path, const Ran& ran) {
  io::CsvWriter csv;
  csv.fields({"kernel", "mode", "ep", "domains", "metric", "value"}).end_row();
  for (const std::string& m : comm_metric_names())
    csv.text(ran.kernel.name)
        .text(setting_name(ran.result.mode))
        .number(ran.result.ep)
        .number(ran.result.domains)
        .text(m)
        .number(comm_metric(ran.result, m), "{:.6g}")
        .end_row();
  csv.save(path);
}

// Runs every figure of the files; prints published, predicted, error. Exit 1 when one is off.
int check(const std::vector<std::string>& files, const std::string& csv_path) {
  io::CsvWriter csv;
  csv.fields({"file", "label", "kernel", "metric", "published", "predicted", "error", "tolerance"}).end_row();
  int off = 0, total = 0;
  for (const std::string& file : files) {
    const io::PublishedSet set = io::load_published(file);
    std::cout << fmt::format("{}\n  {}\n", set.title, set.conditions);
    for (const io::PublishedFigure& f : set.figures) {
      const Ran ran = run_setup(f.setup);
      const double predicted = comm_metric(ran.result, f.metric);
      const double error = (predicted - f.value) / f.value;
      const bool ok = std::abs(error) <= f.tolerance;
      off += ok ? 0 : 1;
      ++total;
      std::cout << fmt::format("  {:<28} {:<20} published {:>8.1f}  predicted {:>8.1f}  error {:>+6.1f}%{}\n", f.label,
                               f.metric, f.value, predicted, 100 * error, ok ? "" : "  OFF");
      csv.text(file).text(f.label).text(f.setup.kernel).text(f.metric).number(f.value).number(predicted, "{:.4g}");
      csv.number(error, "{:.4f}").number(f.tolerance).end_row();
    }
  }
  std::cout << fmt::format("{} of {} figures within tolerance\n", total - off, total);
  if (!csv_path.empty()) csv.save(csv_path);
  return off == 0 ? 0 : 1;
}

}  // namespace

std::function<int()> add_comm_command(CLI::App& app) {
  auto args = std::make_shared<CommArgs>();
  CLI::App* cmd = app.add_subcommand(
      "comm", "communication-only benchmark: one dispatch and one combine (like DeepEP's and nccl-tests' tests)");
  io::CommSetup& c = args->setup;
  cmd->add_option("--topology", c.topology, "topology TOML file");
  cmd->add_option("--nodes", c.nodes, "nodes (hgx) or racks (nvl) of a generator topology, overriding the file's")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--profile", c.profile, "profile TOML file (its [ep_kernel.*] sections)");
  cmd->add_option("--kernel", c.kernel, "EP kernel of the profile (default nccl)");
  cmd->add_option("--sms", c.sms, "SMs the kernel uses (default: the profile's)")->check(CLI::Range(1, 1024));
  cmd->add_option("--ep", c.spec.ep, "GPUs in the EP group")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--tokens", c.spec.tokens, "tokens per GPU")->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--hidden", c.hidden, "hidden size")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--top-k", c.spec.top_k, "experts per token")->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--experts", c.spec.experts, "routed experts (a multiple of --ep)")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--dispatch-dtype", c.dispatch_dtype, "bf16 or fp8")->check(CLI::IsMember({"bf16", "fp8"}));
  cmd->add_option("--combine-dtype", c.combine_dtype, "bf16 or fp8")->check(CLI::IsMember({"bf16", "fp8"}));
  cmd->add_option("--dispatch-bytes", c.spec.dispatch_bytes, "bytes of one dispatched token (overrides the dtype)")
      ->check(CLI::Range(1.0, 1e9));
  cmd->add_option("--combine-bytes", c.spec.combine_bytes, "bytes of one combined result (overrides the dtype)")
      ->check(CLI::Range(1.0, 1e9));
  cmd->add_option("--routing", args->routing, "uniform, zipf (--zipf-exponent) or dense (nccl-tests all-to-all)")
      ->check(CLI::IsMember({"uniform", "zipf", "dense"}));
  cmd->add_option("--zipf-exponent", c.spec.gate.zipf_exponent, "zipf skew")->check(CLI::Range(0.0, 20.0));
  cmd->add_option("--trace", c.spec.trace_path, "routing from a trace's first step and MoE layer");
  cmd->add_option("--seed", c.spec.seed, "routing seed");
  cmd->add_option("--network", args->network, "analytic or flow")->check(CLI::IsMember({"analytic", "flow"}));
  cmd->add_option("--csv", args->csv, "write the figures (or with --check, the comparison) as CSV");
  cmd->add_option("--check", args->check, "published-figure files: run every figure, print published/predicted/error")
      ->expected(1, 1 << 16);
  return [cmd, args] {
    if (!cmd->parsed()) return -1;
    if (!args->check.empty()) return check(args->check, args->csv);
    io::CommSetup& setup = args->setup;
    if (setup.topology.empty() || setup.profile.empty())
      throw InputError("comm: give --topology and --profile (or --check FILE...)");
    setup.spec.dense = args->routing == "dense";
    setup.spec.gate.kind = args->routing == "zipf" ? GateModel::zipf : GateModel::uniform;
    setup.spec.network = *parse_setting<NetworkModelKind>(args->network);
    setup.resolve_bytes();
    const Ran ran = run_setup(setup);
    print_run(setup, ran);
    if (!args->csv.empty()) write_csv(args->csv, ran);
    return 0;
  };
}

}  // namespace moesim::cli
