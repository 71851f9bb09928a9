// Result files (see results_writer.hpp). JSON through nlohmann::json, CSV through CsvWriter, the
// summary's metrics through the metric registry.
#include "io/results_writer.hpp"
#include "io/serving_writer.hpp"

#include <fmt/format.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/csv_writer.hpp"
#include "io/metric_registry.hpp"
#include "io/scenario_loader.hpp"
#include "io/timeline_writer.hpp"

namespace moesim::io {

namespace {

using nlohmann::ordered_json;

ordered_json phases_json(const double (&us)[kPhaseCount]) {
  ordered_json j;
  for (int p = 0; p < kPhaseCount; ++p) j[std::string(phase_name(static_cast<Phase>(p))) + "_us"] = us[p];
  return j;
}

// One column PREFIX<phase>_us per phase.
void phase_columns(CsvWriter& csv, std::string_view prefix) {
  for (int p = 0; p < kPhaseCount; ++p) csv.text(fmt::format("{}{}_us", prefix, phase_name(static_cast<Phase>(p))));
}

CsvWriter per_step_csv(const Results& r) {
  CsvWriter csv;
  csv.fields({"step", "start_us", "step_us", "tokens", "tokens_per_s"});
  phase_columns(csv, "critical_");
  csv.end_row();
  for (const StepResult& s : r.steps) {
    csv.number(s.step)
        .number(us_from_ps(s.start_ps), "{:.4f}")
        .number(us_from_ps(s.step_ps()), "{:.4f}")
        .number(s.tokens)
        .number(static_cast<double>(s.tokens) / (static_cast<double>(s.step_ps()) * 1e-12), "{:.1f}");
    for (TimePs t : s.critical_ps) csv.number(us_from_ps(t), "{:.4f}");
    csv.end_row();
  }
  return csv;
}

CsvWriter per_layer_csv(const Results& r, int gpus) {
  const double steps = static_cast<double>(r.steps.size());
  CsvWriter csv;
  csv.fields({"layer", "kind", "received_max_over_mean", "dispatch_bytes_per_step", "combine_bytes_per_step",
              "critical_gpu", "critical_link"});
  phase_columns(csv, "critical_");
  csv.fields({"dropped_assignments", "dropped_fraction"});  // over all steps
  csv.fields({"critical_gpu_share"});                       // of the layer's critical-path time
  csv.end_row();
  for (const LayerResult& l : r.layers) {
    const double mean = static_cast<double>(l.received_total) / steps / gpus;
    const double ratio = mean > 0 ? static_cast<double>(l.received_max_sum) / steps / mean : 0;
    // The GPU with the most critical-path time in the layer (its tasks and sends).
    const auto hot = std::max_element(l.critical_gpu_ps.begin(), l.critical_gpu_ps.end());
    const int critical_gpu =
        (hot != l.critical_gpu_ps.end() && *hot > 0) ? static_cast<int>(hot - l.critical_gpu_ps.begin()) : -1;
    TimePs layer_ps = 0;
    for (TimePs t : l.critical_ps) layer_ps += t;
    csv.number(l.layer)
        .text(l.moe ? "moe" : "dense")
        .number(ratio, "{:.4f}")
        .number((l.dispatch_bytes / steps).count(), "{:.0f}")
        .number((l.combine_bytes / steps).count(), "{:.0f}")
        .number(critical_gpu)
        .text(l.critical_link);
    for (TimePs t : l.critical_ps) csv.number(us_from_ps(t) / steps, "{:.4f}");
    csv.number(l.dropped_total)
        .number(l.routed_total > 0 ? static_cast<double>(l.dropped_total) / static_cast<double>(l.routed_total) : 0.0,
                "{:.6f}");
    csv.number(critical_gpu >= 0 && layer_ps > 0 ? static_cast<double>(*hot) / static_cast<double>(layer_ps) : 0.0,
               "{:.4f}");
    csv.end_row();
  }
  return csv;
}

// One row per (MoE layer, expert), totals over all steps and micro-batches.
CsvWriter per_expert_csv(const Results& r) {
  CsvWriter csv;
  csv.fields({"layer", "expert", "gpus", "routed", "kept", "dropped", "padded"}).end_row();
  for (const ExpertResult& e : r.experts)
    csv.number(e.layer)
        .number(e.expert)
        .text(e.gpus)
        .number(e.routed)
        .number(e.kept)
        .number(e.routed - e.kept)
        .number(e.padded)
        .end_row();
  return csv;
}

CsvWriter per_gpu_csv(const Results& r) {
  const double steps = static_cast<double>(r.steps.size());
  double total = 0;
  for (const GpuResult& g : r.gpus) total += static_cast<double>(g.received);
  const double mean = total / static_cast<double>(r.gpus.size());
  CsvWriter csv;
  csv.fields({"gpu", "host", "domain", "received_per_step", "load_vs_mean", "compute_busy_us_per_step",
              "compute_busy_fraction", "bytes_sent_per_step", "bytes_received_per_step"});
  phase_columns(csv, "busy_");
  csv.end_row();
  for (const GpuResult& g : r.gpus) {
    const double busy = us_from_ps(g.compute_busy_ps()) / steps;
    const double sim_us = us_from_ps(r.total_ps) / steps;
    csv.number(g.gpu)
        .number(g.host)
        .number(g.domain)
        .number(static_cast<double>(g.received) / steps, "{:.2f}")
        .number(mean > 0 ? static_cast<double>(g.received) / mean : 0, "{:.4f}")
        .number(busy, "{:.4f}")
        .number(sim_us > 0 ? busy / sim_us : 0, "{:.4f}")
        .number((g.bytes_sent / steps).count(), "{:.0f}")
        .number((g.bytes_received / steps).count(), "{:.0f}");
    for (TimePs t : g.busy_ps) csv.number(us_from_ps(t) / steps, "{:.4f}");
    csv.end_row();
  }
  return csv;
}

// Long format, MoE layers only: the hotspot heatmap's input.
CsvWriter gpu_layer_csv(const Results& r, const std::vector<LayerResult>& layers) {
  const double steps = static_cast<double>(r.steps.size());
  const std::size_t g = r.gpus.size();
  CsvWriter csv;
  csv.fields({"layer", "gpu", "received_per_step", "experts_us_per_step"}).end_row();
  for (const LayerResult& l : layers) {
    if (!l.moe) continue;
    for (std::size_t h = 0; h < g; ++h) {
      const std::size_t i = static_cast<std::size_t>(l.layer) * g + h;
      csv.number(l.layer)
          .number(h)
          .number(static_cast<double>(r.gpu_layer_received[i]) / steps, "{:.2f}")
          .number(us_from_ps(r.gpu_layer_experts_ps[i]) / steps, "{:.4f}")
          .end_row();
    }
  }
  return csv;
}

CsvWriter per_link_csv(const Results& r) {
  CsvWriter csv;
  csv.fields({"link", "from", "to", "class", "bandwidth_GBps", "bytes", "utilization", "busy_fraction",
              "peak_utilization", "critical_us_per_step"})
      .end_row();
  const double steps = static_cast<double>(r.steps.size());
  for (const LinkResult& l : r.links)
    csv.number(l.link)
        .text(l.from)
        .text(l.to)
        .text(l.link_class)
        .number(l.bandwidth.GBps())
        .number(l.bytes.count(), "{:.0f}")
        .number(link_utilization(l, r.total_ps), "{:.6f}")
        .number(link_busy_fraction(l, r.link_activity_ps), "{:.6f}")
        .number(l.peak_occupancy, "{:.6f}")
        .number(steps > 0 ? us_from_ps(l.critical_ps) / steps : 0.0, "{:.4f}")
        .end_row();
  return csv;
}

// The registry's metrics that summary.json keeps in `object`, in the registry's order.
void add_metrics(ordered_json& j, std::string_view object, const Summary& s) {
  for (const Metric& m : metrics())
    if (m.json_object == object) std::visit([&](const auto& v) { j[std::string(m.name)] = v; }, m.read(s));
}

}  // namespace

std::string summary_json(const RunContext& run) {
  const Summary& s = run.summary;
  const Scenario& sc = run.scenario;
  ordered_json j;
  j["scenario"] = {{"name", sc.name}, {"file", sc.file}, {"seed", sc.seed}};
  j["model"] = {{"name", sc.model.name},
                {"layers", sc.model.layers},
                {"moe_layers", sc.model.moe_layers()},
                {"routed_experts", sc.model.routed_experts},
                {"top_k", sc.model.top_k}};
  j["topology"] = {{"name", run.topology.name()}, {"file", sc.topology_path}, {"gpus_used", s.gpus}};
  j["profile"] = {{"file", sc.profile_path},
                  {"device", run.profile.meta.device},
                  {"source", run.profile.meta.source},
                  {"compute_sources", run.results.compute_sources},
                  {"ep_kernel", run.results.ep_kernel}};
  j["workload"] = {{"phase", setting_name(sc.workload.phase)},
                   {"tokens_per_gpu", sc.workload.tokens_per_gpu},
                   {"kv_len", sc.workload.kv_len},
                   {"steps", s.steps},
                   {"gate", sc.trace_path.empty() ? setting_name(sc.gate.kind) : "trace"},
                   {"trace", sc.trace_path},
                   {"placement", setting_name(sc.placement)},
                   {"network_model", setting_name(sc.network_model)},
                   {"overlap", setting_name(sc.overlap)}};
  // An interrupted run reports its completed steps, and says so.
  if (run.results.stopped != RunStop::none)
    j["partial"] = {{"stopped", run.results.stopped == RunStop::interrupted ? "interrupted" : "timeout"},
                    {"steps_completed", run.results.steps.size()},
                    {"steps_requested", run.results.steps_requested}};
  add_metrics(j["latency"], "latency", s);
  add_metrics(j["throughput"], "throughput", s);
  j["critical_path_per_step"] = phases_json(s.critical_us);
  add_metrics(j["critical_path_per_step"], "critical_path_per_step", s);  // after the phases
  j["busy_per_gpu_per_step"] = phases_json(s.busy_us);
  add_metrics(j["hotspots"], "hotspots", s);
  add_metrics(j["bottlenecks"], "bottlenecks", s);
  const Results& r = run.results;
  j["memory_per_gpu"] = {
      {"routed_experts_bytes_max", r.memory_expert_bytes_max.count()},
      {"attention_dense_shared_bytes", r.memory_replicated_bytes.count()},
      {"kv_cache_bytes", r.memory_kv_bytes.count()},
      {"total_bytes_max", (r.memory_expert_bytes_max + r.memory_replicated_bytes + r.memory_kv_bytes).count()},
      {"capacity_bytes", r.memory_capacity_bytes.count()}};
  j["rebalance"] = {{"weight_bytes_moved", r.weight_bytes_moved.count()}};
  if (sc.gate.capacity_factor > 0) {
    j["capacity"] = {{"factor", sc.gate.capacity_factor},
                     {"policy", setting_name(sc.gate.capacity_policy)},
                     {"routed_assignments", s.routed_assignments},
                     {"dropped_assignments", s.dropped_assignments}};
    add_metrics(j["capacity"], "capacity", s);
  }
  j["notes"] = run.results.notes;
  if (run.serving) {
    add_metrics(j["serving"], "serving", s);
    add_serving_json(j["serving"], *run.serving, s.serving);
  }
  j["simulator"] = {{"events", run.results.events},
                    {"flows", run.results.flows},
                    {"token_expert_assignments", run.results.assignments},
                    {"simulated_us", us_from_ps(run.results.total_ps)}};
  return j.dump(2) + "\n";
}

namespace {

namespace fs = std::filesystem;

// The directory entry that replace_directory swaps: "out/" is "out", "." its absolute name (a
// name of its own to rename), a symbolic link its target.
fs::path swap_target(const fs::path& dir) {
  fs::path d = dir.lexically_normal();
  if (!d.has_filename() && d.has_relative_path()) d = d.parent_path();  // a trailing slash
  if (d.empty() || d.filename() == "." || d.filename() == "..") {
    d = fs::absolute(d).lexically_normal();
    if (!d.has_filename() && d.has_relative_path()) d = d.parent_path();
  }
  if (!d.has_filename())
    throw InputError(fmt::format("cannot write results to {}: not a directory name", dir.string()));
  std::error_code ec;
  if (fs::is_symlink(d, ec)) {
    d = fs::canonical(d, ec);
    if (ec) throw Error(fmt::format("cannot follow the link {}: {}", dir.string(), ec.message()));
  }
  return d;
}

// The n-th sibling name of `dir` for this process ("out.tmp-1234-0"); callers take the first free one.
fs::path sibling(const fs::path& dir, std::string_view tag, int n) {
  return dir.parent_path() / fmt::format("{}.{}-{}-{}", dir.filename().string(), tag, static_cast<long>(::getpid()), n);
}

// Whether `dir` (an existing directory) may be replaced: nothing to lose, or earlier results.
bool replaceable(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_empty(dir, ec) && !ec) return true;
  return fs::exists(dir / "summary.json", ec);
}

}  // namespace

void replace_directory(const fs::path& dir, const std::function<void(const fs::path& tmp)>& write) {
  const fs::path target = swap_target(dir);
  const std::string name = target.string();
  std::error_code ec;
  if (target.has_parent_path()) {
    fs::create_directories(target.parent_path(), ec);
    if (ec)
      throw Error(fmt::format("cannot create output directory {}: {}", target.parent_path().string(), ec.message()));
  }
  const fs::file_status status = fs::status(target, ec);
  if (ec && status.type() != fs::file_type::not_found)
    throw Error(fmt::format("cannot write results to {}: {}", name, ec.message()));
  const bool existed = fs::exists(status);
  if (existed && !fs::is_directory(status))
    throw InputError(fmt::format("cannot write results to {}: it exists and is not a directory", name));
  if (existed && !replaceable(target))
    throw InputError(fmt::format(
        "cannot write results to {}: it is not empty and holds no summary.json, so it is not replaced", name));

  // The first name nobody holds (another writer, a crashed process's leftover) is created, so two
  // writers never share one.
  fs::path tmp = sibling(target, "tmp", 0);
  for (int n = 1; !fs::create_directory(tmp, ec) && !ec; ++n) tmp = sibling(target, "tmp", n);
  if (ec) throw Error(fmt::format("cannot create output directory {}: {}", tmp.string(), ec.message()));
  const auto discard = [&] {
    std::error_code ignored;
    fs::remove_all(tmp, ignored);
  };
  try {
    write(tmp);
  } catch (const InputError&) {
    discard();
    throw;
  } catch (const Error& e) {
    discard();
    throw Error(fmt::format("{} ({} was not changed)", e.what(), name));
  } catch (...) {
    discard();
    throw;
  }

  // Moved aside, not deleted, until the new results are in place: a failure in between puts it back.
  fs::path old = sibling(target, "old", 0);
  for (int n = 1; fs::exists(old, ec); ++n) old = sibling(target, "old", n);
  if (existed) {
    fs::rename(target, old, ec);
    if (ec) {
      discard();
      throw Error(fmt::format("cannot move {} aside to {}: {}", name, old.string(), ec.message()));
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    const std::string reason = ec.message();
    std::error_code ignored;
    if (existed) fs::rename(old, target, ignored);
    discard();
    throw Error(fmt::format("cannot rename {} to {}: {}", tmp.string(), name, reason));
  }
  if (existed) {
    fs::remove_all(old, ec);
    if (ec)
      throw Error(fmt::format("wrote {}, but cannot remove the previous results moved to {}: {}", name, old.string(),
                              ec.message()));
  }
}

void write_result_files(const RunContext& run, const fs::path& dir) {
  write_file(dir / "summary.json", summary_json(run));
  per_step_csv(run.results).save(dir / "per_step.csv");
  per_layer_csv(run.results, run.summary.gpus).save(dir / "per_layer.csv");
  per_gpu_csv(run.results).save(dir / "per_gpu.csv");
  per_link_csv(run.results).save(dir / "per_link.csv");
  gpu_layer_csv(run.results, run.results.layers).save(dir / "gpu_layer.csv");
  per_expert_csv(run.results).save(dir / "per_expert.csv");
  write_file(dir / "timeline.json", timeline_json(run.results));
  write_file(dir / "scenario.resolved.toml", scenario_to_toml(run.scenario));
  if (run.serving) write_serving_files(*run.serving, run.summary.serving, dir);
}

void write_results(const RunContext& run, const std::string& dir) {
  replace_directory(dir, [&](const fs::path& tmp) { write_result_files(run, tmp); });
}

}  // namespace moesim::io
