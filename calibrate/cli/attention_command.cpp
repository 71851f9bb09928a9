// `moesim-calibrate attention`: a model's core attention over a grid of decode steps (batch x
// context) and prefill chunks (chunk tokens x cached context) on moesim's kernels, each point
// checked against the CPU reference, then timed. Assumption: one GPU runs every head of the layer
// (data-parallel attention) and the sequences of a decode point share one context length.
#include <fmt/format.h>

#include <iostream>
#include <string>
#include <vector>

#include "bench/cuda_check.hpp"
#include "cli/subcommands.hpp"
#include "cli/sweeps.hpp"
#include "kernels/attention_config.hpp"
#include "ops/attention_ops.hpp"

namespace moesim::calib {

namespace {

constexpr double kAttentionHeadroomBytes = 1.0e9;  // the L2 flush buffer, the CUDA context, allocator slack

struct AttentionArgs {
  CommonArgs common;
  std::string model;
  std::string phase = "both";
  std::string batch = "1,4,16,64,256";
  std::string context = "512,2048,8192,32768";
  std::string chunk = "128,512,2048,8192";
  std::string prefill_context = "0,8192";
};

// The grid in the order it runs: decode by batch then context, prefill by context then chunk.
std::vector<AttentionPoint> grid(const AttentionArgs& a, const AttentionModel& model) {
  if (a.phase != "decode" && a.phase != "prefill" && a.phase != "both")
    throw InputError(fmt::format("--phase \"{}\": expected decode, prefill or both", a.phase));
  std::vector<AttentionPoint> points;
  if (a.phase != "prefill") {
    const std::vector<int> batches = parse_int_list(a.batch, "--batch", 1, 1 << 16);
    const std::vector<int> contexts = parse_int_list(a.context, "--context", 0, 1 << 24);
    for (int b : batches)
      for (int c : contexts) points.push_back(decode_point(model, b, c));
  }
  if (a.phase != "decode") {
    const std::vector<int> chunks = parse_int_list(a.chunk, "--chunk", 1, 1 << 20);
    const std::vector<int> contexts = parse_int_list(a.prefill_context, "--prefill-context", 0, 1 << 24);
    for (int c : contexts)
      for (int n : chunks) points.push_back(prefill_point(model, n, c));
  }
  return points;
}

std::string shape_text(const AttentionShape& s, bool value_in_key) {
  return fmt::format("{} heads over {} KV heads, dk {}, dv {}{}", s.heads, s.kv_heads, s.dk, s.dv,
                     value_in_key ? " (the value inside the key)" : "");
}

// False (and why) when the point's tensors do not fit in the GPU's free memory.
bool point_fits(const AttentionPoint& p, std::string& why) {
  std::size_t free = 0, total = 0;
  MOESIM_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  const double need = attention_op_device_bytes(p) + kAttentionHeadroomBytes;
  if (need <= static_cast<double>(free)) return true;
  why = fmt::format("needs {:.1f} GB (Q, K, V, output and split workspace plus {:.0f} GB headroom), {:.1f} GB free",
                    need / 1e9, kAttentionHeadroomBytes / 1e9, static_cast<double>(free) / 1e9);
  return false;
}

fit::AttentionMeasurement row(const AttentionModel& model, const AttentionPoint& p, const OpResult& r) {
  fit::AttentionMeasurement m;
  m.model = model.model;
  m.phase = attention_phase_name(p.phase);
  m.form = model.form;
  m.batch = p.batch;
  m.queries = p.shape.queries;
  m.context = p.context;
  m.median_us = r.time.median_us;
  m.p10_us = r.time.p10_us;
  m.p90_us = r.time.p90_us;
  m.bytes = r.bytes;
  m.flops = r.flops;
  m.repeats = r.time.repeats;
  return m;
}

int run_attention(const AttentionArgs& a, const Argv& argv) {
  if (a.model.empty()) throw InputError("attention: --model is required");
  const AttentionModel model = attention_model(a.model);
  const std::vector<AttentionPoint> points = grid(a, model);
  GpuSession gpu;
  fit::Measurements m;
  m.meta = collect_meta(argv.argc, argv.argv, false);
  Harness harness(gpu.stream, a.common.bench());
  const ResultTable table(
      {{"phase", "", 7, true}, {"batch", "", 5}, {"queries", "", 7}, {"context", "", 7}, {"splits", "", 6}},
      {.tflops = true});
  std::cout << fmt::format("attention of {} ({}) on {}: decode {}; prefill {}, causal\n", model.model, model.form,
                           m.meta.device, shape_text(model.decode, model.decode_value_in_key),
                           shape_text(model.prefill, false))
            << table.header();
  int skipped = 0;
  for (const AttentionPoint& p : points) {
    const std::string phase = attention_phase_name(p.phase);
    std::string why;
    if (!point_fits(p, why)) {
      std::cout << fmt::format("SKIP {} batch {} queries {} context {}: {}\n", phase, p.batch, p.shape.queries,
                               p.context, why);
      ++skipped;
      continue;
    }
    AttentionOp op(p, a.common.seed, gpu.stream);
    const OpResult r = measure_row(harness, op, table,
                                   {phase, std::to_string(p.batch), std::to_string(p.shape.queries),
                                    std::to_string(p.context), std::to_string(op.plan().splits)});
    m.attention.push_back(row(model, p, r));
  }
  if (skipped > 0) std::cout << fmt::format("{} of {} configurations skipped (GPU memory)\n", skipped, points.size());
  if (!harness.note().empty()) std::cout << "note: " << harness.note() << "\n";
  std::cout << "bytes: Q, K and V once per sequence and KV head, the output; FLOPs: 2 x (dk + dv) per visible "
               "(query head, key) pair, decode's own key included\n";
  save_measurements_to(m, a.common.out, a.common.merge);
  return 0;
}

}  // namespace

Runner add_attention_command(CLI::App& app, const Argv& argv) {
  auto a = std::make_shared<AttentionArgs>();
  CLI::App* sub =
      app.add_subcommand("attention", "time the model's core attention over decode and prefill grids (one GPU)");
  add_common_options(sub, a->common);
  sub->add_option("--model", a->model, "model preset (deepseek-v3, qwen3-30b-a3b, ...)")->required();
  sub->add_option("--phase", a->phase, "decode | prefill | both (default both)");
  sub->add_option("--batch", a->batch, "decode: sequences per step (default 1,4,16,64,256)");
  sub->add_option("--context", a->context, "decode: cached tokens per sequence (default 512,2048,8192,32768)");
  sub->add_option("--chunk", a->chunk, "prefill: tokens per chunk (default 128,512,2048,8192)");
  sub->add_option("--prefill-context", a->prefill_context, "prefill: tokens cached before the chunk (default 0,8192)");
  return [sub, a, argv]() { return sub->parsed() ? run_attention(*a, argv) : -1; };
}

}  // namespace moesim::calib
