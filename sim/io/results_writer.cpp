// Result files (see results_writer.hpp). JSON through nlohmann::json; CSV through fmt.
#include "io/results_writer.hpp"

#include <fmt/format.h>
#include <fmt/os.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/scenario_loader.hpp"

namespace moesim::io {

namespace {

using nlohmann::ordered_json;

void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary);
  f << text;
  if (!f) throw Error(fmt::format("cannot write {}", p.string()));
}

ordered_json phases_json(const double (&us)[kPhaseCount]) {
  ordered_json j;
  for (int p = 0; p < kPhaseCount; ++p) j[std::string(phase_name(static_cast<Phase>(p))) + "_us"] = us[p];
  return j;
}

std::string phase_header(const char* prefix) {
  std::string h;
  for (int p = 0; p < kPhaseCount; ++p) h += fmt::format(",{}{}_us", prefix, phase_name(static_cast<Phase>(p)));
  return h;
}

std::string per_step_csv(const Results& r) {
  std::string out = "step,start_us,step_us,tokens,tokens_per_s" + phase_header("critical_") + "\n";
  for (const StepResult& s : r.steps) {
    out += fmt::format("{},{:.4f},{:.4f},{},{:.1f}", s.step, us_from_ps(s.start_ps), us_from_ps(s.step_ps()), s.tokens,
                       static_cast<double>(s.tokens) / (static_cast<double>(s.step_ps()) * 1e-12));
    for (TimePs t : s.critical_ps) out += fmt::format(",{:.4f}", us_from_ps(t));
    out += "\n";
  }
  return out;
}

std::string per_layer_csv(const Results& r, int gpus) {
  const double steps = static_cast<double>(r.steps.size());
  std::string out =
      "layer,kind,received_max_over_mean,dispatch_bytes_per_step,combine_bytes_per_step,critical_gpu,critical_link" +
      phase_header("critical_") + "\n";
  for (const LayerResult& l : r.layers) {
    const double mean = static_cast<double>(l.received_total) / steps / gpus;
    const double ratio = mean > 0 ? static_cast<double>(l.received_max_sum) / steps / mean : 0;
    const auto hot = std::max_element(l.critical_gpu_count.begin(), l.critical_gpu_count.end());
    const int critical_gpu = (hot != l.critical_gpu_count.end() && *hot > 0)
                                 ? static_cast<int>(hot - l.critical_gpu_count.begin())
                                 : -1;
    out += fmt::format("{},{},{:.4f},{:.0f},{:.0f},{},{}", l.layer, l.moe ? "moe" : "dense", ratio,
                       l.dispatch_bytes / steps, l.combine_bytes / steps, critical_gpu, l.critical_link);
    for (TimePs t : l.critical_ps) out += fmt::format(",{:.4f}", us_from_ps(t) / steps);
    out += "\n";
  }
  return out;
}

std::string per_gpu_csv(const Results& r) {
  const double steps = static_cast<double>(r.steps.size());
  double total = 0;
  for (const GpuResult& g : r.gpus) total += static_cast<double>(g.received);
  const double mean = total / static_cast<double>(r.gpus.size());
  std::string out = "gpu,host,domain,received_per_step,load_vs_mean,compute_busy_us_per_step,compute_busy_fraction,"
                    "bytes_sent_per_step,bytes_received_per_step" + phase_header("busy_") + "\n";
  for (const GpuResult& g : r.gpus) {
    const double busy = us_from_ps(g.compute_busy_ps()) / steps;
    const double sim_us = us_from_ps(r.total_ps) / steps;
    out += fmt::format("{},{},{},{:.2f},{:.4f},{:.4f},{:.4f},{:.0f},{:.0f}", g.gpu, g.host, g.domain,
                       static_cast<double>(g.received) / steps, mean > 0 ? static_cast<double>(g.received) / mean : 0,
                       busy, sim_us > 0 ? busy / sim_us : 0, g.bytes_sent / steps, g.bytes_received / steps);
    for (TimePs t : g.busy_ps) out += fmt::format(",{:.4f}", us_from_ps(t) / steps);
    out += "\n";
  }
  return out;
}

// Long format, MoE layers only: the hotspot heatmap's input.
std::string gpu_layer_csv(const Results& r, const std::vector<LayerResult>& layers) {
  const double steps = static_cast<double>(r.steps.size());
  const std::size_t g = r.gpus.size();
  std::string out = "layer,gpu,received_per_step,experts_us_per_step\n";
  for (const LayerResult& l : layers) {
    if (!l.moe) continue;
    for (std::size_t h = 0; h < g; ++h) {
      const std::size_t i = static_cast<std::size_t>(l.layer) * g + h;
      out += fmt::format("{},{},{:.2f},{:.4f}\n", l.layer, h, static_cast<double>(r.gpu_layer_received[i]) / steps,
                         us_from_ps(r.gpu_layer_experts_ps[i]) / steps);
    }
  }
  return out;
}

std::string per_link_csv(const Results& r) {
  std::string out = "link,from,to,class,bandwidth_GBps,bytes,utilization\n";
  for (const LinkResult& l : r.links)
    out += fmt::format("{},{},{},{},{},{:.0f},{:.6f}\n", l.link, l.from, l.to, l.link_class, l.bandwidth_GBps, l.bytes,
                       link_utilization(l, r.total_ps));
  return out;
}

}  // namespace

std::string summary_json(const RunContext& run) {
  const Summary& s = run.summary;
  const Scenario& sc = run.scenario;
  ordered_json j;
  j["scenario"] = {{"name", sc.name}, {"file", sc.file}, {"seed", sc.seed}};
  j["model"] = {{"name", sc.model.name}, {"layers", sc.model.layers}, {"moe_layers", sc.model.moe_layers()},
                {"routed_experts", sc.model.routed_experts}, {"top_k", sc.model.top_k}};
  j["topology"] = {{"name", run.topology.name()}, {"file", sc.topology_path}, {"gpus_used", s.gpus}};
  j["profile"] = {{"file", sc.profile_path}, {"device", run.profile.meta.device}, {"source", run.profile.meta.source},
                  {"compute_sources", run.results.compute_sources}};
  j["workload"] = {{"phase", setting_name(sc.workload.phase)}, {"tokens_per_gpu", sc.workload.tokens_per_gpu},
                   {"kv_len", sc.workload.kv_len}, {"steps", s.steps},
                   {"gate", sc.trace_path.empty() ? setting_name(sc.gate.kind) : "trace"}, {"trace", sc.trace_path},
                   {"placement", setting_name(sc.placement)}, {"network_model", setting_name(sc.network_model)}, {"overlap", setting_name(sc.overlap)}};
  j["latency"] = {{"step_us_mean", s.step_us_mean}, {"step_us_p50", s.step_us_p50}, {"step_us_p90", s.step_us_p90},
                  {"step_us_p99", s.step_us_p99}};
  j["throughput"] = {{"tokens_per_s_total", s.tokens_per_s_total}, {"tokens_per_s_per_gpu", s.tokens_per_s_per_gpu}};
  j["critical_path_per_step"] = phases_json(s.critical_us);
  j["critical_path_per_step"]["dominant_phase"] = s.critical_phase;
  j["busy_per_gpu_per_step"] = phases_json(s.busy_us);
  j["hotspots"] = {{"layer_gpu_load_max_over_mean", s.layer_load_max_over_mean},
                   {"gpu_load_max_over_mean", s.load_max_over_mean},
                   {"hottest_gpu", s.hottest_gpu},
                   {"hottest_gpu_share", s.hottest_gpu_share},
                   {"hottest_link", s.hottest_link},
                   {"hottest_link_class", s.hottest_link_class},
                   {"hottest_link_utilization", s.hottest_link_utilization},
                   {"network_bytes_per_step", s.network_bytes_per_step},
                   {"scaleout_bytes_per_step", s.scaleout_bytes_per_step}};
  const Results& r = run.results;
  j["memory_per_gpu"] = {{"routed_experts_bytes_max", r.memory_expert_bytes_max},
                         {"attention_dense_shared_bytes", r.memory_replicated_bytes},
                         {"kv_cache_bytes", r.memory_kv_bytes},
                         {"total_bytes_max", r.memory_expert_bytes_max + r.memory_replicated_bytes + r.memory_kv_bytes},
                         {"capacity_bytes", r.memory_capacity_bytes}};
  j["rebalance"] = {{"weight_bytes_moved", r.weight_bytes_moved}};
  j["notes"] = run.results.notes;
  j["simulator"] = {{"events", run.results.events},
                    {"flows", run.results.flows},
                    {"token_expert_assignments", run.results.assignments},
                    {"simulated_us", us_from_ps(run.results.total_ps)}};
  return j.dump(2) + "\n";
}

std::string timeline_json(const Results& r) {
  // Chrome trace format: a process per GPU, thread 0 = compute stream, thread 1 = network.
  ordered_json events = ordered_json::array();
  for (const GpuResult& g : r.gpus) {
    events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", g.gpu}, {"args", {{"name", fmt::format("GPU {}", g.gpu)}}}});
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", g.gpu}, {"tid", 0}, {"args", {{"name", "compute"}}}});
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", g.gpu}, {"tid", 1}, {"args", {{"name", "network"}}}});
  }
  for (const Span& s : r.timeline) {
    const bool net = s.phase == Phase::dispatch || s.phase == Phase::combine;
    events.push_back({{"name", phase_name(s.phase)},
                      {"cat", net ? "network" : "compute"},
                      {"ph", "X"},
                      {"ts", us_from_ps(s.start_ps)},
                      {"dur", us_from_ps(s.end_ps - s.start_ps)},
                      {"pid", s.gpu},
                      {"tid", net ? 1 : 0},
                      {"args", {{"layer", s.layer}, {"microbatch", s.mb}}}});
  }
  ordered_json j;
  j["displayTimeUnit"] = "ns";
  j["traceEvents"] = std::move(events);
  return j.dump() + "\n";
}

void write_results(const RunContext& run, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw Error(fmt::format("cannot create output directory {}: {}", dir, ec.message()));
  const std::filesystem::path d(dir);
  write_text(d / "summary.json", summary_json(run));
  write_text(d / "per_step.csv", per_step_csv(run.results));
  write_text(d / "per_layer.csv", per_layer_csv(run.results, run.summary.gpus));
  write_text(d / "per_gpu.csv", per_gpu_csv(run.results));
  write_text(d / "per_link.csv", per_link_csv(run.results));
  write_text(d / "gpu_layer.csv", gpu_layer_csv(run.results, run.results.layers));
  write_text(d / "timeline.json", timeline_json(run.results));
  write_text(d / "scenario.resolved.toml", scenario_to_toml(run.scenario));
}

}  // namespace moesim::io
