// Terminal summary (see summary_text.hpp).
#include "app/summary_text.hpp"

#include <fmt/format.h>

namespace moesim {

namespace {
std::string gate_detail(const GateSpec& g) {
  std::string d;
  if (g.kind == GateModel::zipf) d += fmt::format("s={}", g.zipf_exponent);
  if (g.kind == GateModel::lognormal) d += fmt::format("sigma={}", g.lognormal_sigma);
  if (g.kind == GateModel::uniform) return "";
  if (g.layer_variation) d += fmt::format(", per-layer (rho={})", g.layer_correlation);
  if (g.drift_per_step > 0) d += fmt::format(", drift {}/step every {}", g.drift_per_step, g.drift_interval_steps);
  if (g.rank_locality > 0) d += fmt::format(", rank locality {}", g.rank_locality);
  return " (" + d + ")";
}
std::string group_detail(const GateSpec& g) {
  return g.groups > 0 ? fmt::format(", {} of {} expert groups per token", g.groups_per_token, g.groups) : "";
}
}  // namespace

std::string summary_text(const SummaryContext& run) {
  const Summary& s = run.summary;
  const Scenario& sc = run.scenario;
  std::string o;
  if (sc.serving.enabled)  // the steps are the served batches the engine simulated in full
    o += fmt::format("moesim: {}  ({}, {} served steps simulated in full)\n", sc.name, sc.model.name, s.steps);
  else
    o += fmt::format("moesim: {}  ({} {}, {} tokens/GPU{}, {} steps)\n", sc.name, sc.model.name,
                     setting_name(sc.workload.phase), sc.workload.tokens_per_gpu,
                     sc.prefill() ? std::string() : fmt::format(", kv {}", sc.workload.kv_len), s.steps);
  if (run.results.stopped != RunStop::none)
    o += fmt::format("  PARTIAL: interrupted after {} of {} steps; the figures are those steps'\n",
                     run.results.steps.size(), run.results.steps_requested);
  o += fmt::format("  topology {} ({} GPUs used), profile {}\n", run.topology_name, s.gpus, run.profile_provenance);
  o += fmt::format("  gate {}{}, placement {}, network {}, overlap {}, ep kernel {}{}\n",
                   sc.trace_path.empty() ? setting_string(sc.gate.kind) : "trace " + sc.trace_path,
                   gate_detail(sc.gate) + group_detail(sc.gate), setting_name(sc.placement),
                   setting_name(sc.network_model), setting_name(sc.overlap), run.results.ep_kernel,
                   sc.dedup ? "" : ", dedup off");
  o += fmt::format("  compute costs: {}\n", run.results.compute_sources);
  if (!run.scenario.fuse_permute_reduce)
    o += "  gate, permute and combine's reduction run as moesim's own reference kernels, unfused; production EP "
         "kernels fuse the permute into dispatch and the reduction into combine (network.fuse_permute_reduce)\n";
  for (const std::string& n : run.results.notes) o += fmt::format("  note: {}\n", n);
  o += "\n";
  o += fmt::format("throughput   {:>12.0f} tokens/s total   {:>10.1f} tokens/s per GPU\n", s.tokens_per_s_total,
                   s.tokens_per_s_per_gpu);
  o += fmt::format("step latency p50 {:.1f} us   p90 {:.1f} us   p99 {:.1f} us   (mean {:.1f} us)\n\n", s.step_us_p50,
                   s.step_us_p90, s.step_us_p99, s.step_us_mean);
  o += "time per step by phase      critical path     busy per GPU\n";
  for (int p = 0; p < kPhaseCount; ++p) {
    const auto ph = static_cast<Phase>(p);
    if (s.critical_us[p] == 0 && s.busy_us[p] == 0) continue;
    const bool comm = ph == Phase::dispatch || ph == Phase::combine;
    o += fmt::format("  {:<16} {:>12.1f} us {:>5.1f}%   {:>10.1f} us{}\n", phase_name(ph), s.critical_us[p],
                     s.step_us_mean > 0 ? 100.0 * s.critical_us[p] / s.step_us_mean : 0.0, s.busy_us[p],
                     comm ? " (sender span)" : "");
  }
  o += fmt::format("  dominant phase on the critical path: {}\n\n", s.critical_phase);
  o += fmt::format(
      "GPU load (token-expert assignments) max/mean per layer {:.3f} (balancedness {:.3f}); over the "
      "step {:.3f}, hottest GPU {} with {:.2f}% of all\n",
      s.layer_load_max_over_mean, s.layer_load_max_over_mean > 0 ? 1 / s.layer_load_max_over_mean : 0.0,
      s.load_max_over_mean, s.hottest_gpu, 100.0 * s.hottest_gpu_share);
  if (s.straggler_gpu >= 0)
    o += fmt::format("straggler GPU {}, {}: {:.1f}% of the critical path ({:.1f}% in {})\n", s.straggler_gpu,
                     s.straggler_phase, 100.0 * s.straggler_share, 100.0 * s.straggler_phase_share, s.straggler_phase);
  o += fmt::format("hottest link {} [{}] utilisation {:.2f}% (busy {:.1f}% of the time, peak {:.1f}% over 10 us)\n",
                   s.hottest_link, s.hottest_link_class, 100.0 * s.hottest_link_utilization,
                   100.0 * s.hottest_link_busy_fraction, 100.0 * s.hottest_link_peak_utilization);
  if (!s.bottleneck_link.empty())
    o += fmt::format(
        "bottleneck link {} [{}]: bounds {:.1f}% of the critical path ({} links {:.1f}%); utilisation {:.2f}%, "
        "busy {:.1f}%, peak {:.1f}% over 10 us\n",
        s.bottleneck_link, s.bottleneck_link_class, 100.0 * s.bottleneck_link_share, s.bottleneck_link_class,
        100.0 * s.bottleneck_link_class_share, 100.0 * s.bottleneck_link_utilization,
        100.0 * s.bottleneck_link_busy_fraction, 100.0 * s.bottleneck_link_peak_utilization);
  const Results& r = run.results;
  o += fmt::format(
      "HBM per GPU {:.1f} GB of {:.0f} GB (routed experts {:.1f} + attention/dense/shared {:.1f} + KV {:.1f})\n",
      (r.memory_expert_bytes_max + r.memory_replicated_bytes + r.memory_kv_bytes).GB(), r.memory_capacity_bytes.GB(),
      r.memory_expert_bytes_max.GB(), r.memory_replicated_bytes.GB(), r.memory_kv_bytes.GB());
  o += fmt::format("network bytes per step {:.3g} (scale-out {:.3g})\n", s.network_bytes_per_step.count(),
                   s.scaleout_bytes_per_step.count());
  if (sc.gate.capacity_factor > 0)
    o += fmt::format("expert capacity factor {} ({}): {} of {} token-expert assignments dropped ({:.2f}%)\n",
                     sc.gate.capacity_factor, setting_name(sc.gate.capacity_policy), s.dropped_assignments,
                     s.routed_assignments, 100.0 * s.dropped_fraction);
  o += fmt::format("simulated {} events, {} flows{}, {} token-expert assignments in {:.2f} s wall\n",
                   run.results.events, run.results.flows,
                   run.results.rate_solves > 0 ? fmt::format(" ({} max-min solves)", run.results.rate_solves) : "",
                   run.results.assignments, run.results.wall_s);
  return o;
}

std::string serving_text(const Scenario& sc, const ServingResults& r, const ServingSummary& s) {
  const ServingSpec& v = sc.serving;
  std::string o;
  const std::string arrival = v.arrival == ArrivalKind::closed_loop ? fmt::format("closed loop of {} users", v.users)
                              : v.arrival == ArrivalKind::trace
                                  ? fmt::format("trace {} ({})", v.trace_path, setting_name(v.trace_format))
                                  : fmt::format("{} at {} requests/s", setting_name(v.arrival), v.rate_per_s);
  o += fmt::format("serving: {}  ({}, {} s window, {} GPUs)\n", sc.name, arrival, v.duration_s, s.gpus);
  for (const PoolResult& p : r.pools)
    o += fmt::format("  {} pool: GPUs {}..{}, EP{} x {} replica(s), KV cache {} tokens per rank (peak {})\n",
                     pool_role_name(p.role), p.first_gpu, p.first_gpu + p.gpus() - 1, p.ep, p.replicas,
                     p.kv_capacity_tokens, p.kv_peak_tokens);
  if (v.mtp_draft_tokens > 0)
    o += fmt::format("  MTP: {} draft token(s) per step, acceptance {}\n", v.mtp_draft_tokens, v.mtp_acceptance);
  for (const std::string& n : r.notes) o += fmt::format("  note: {}\n", n);
  o += fmt::format("requests     {} arrived, {} completed, {} refused, {} preemptions; makespan {:.2f} s\n", s.requests,
                   s.completed, s.rejected, s.preemptions, s.makespan_s);
  o += fmt::format("TTFT         p50 {:.1f} ms   p90 {:.1f} ms   p99 {:.1f} ms   (mean {:.1f} ms)\n", s.ttft_ms_p50,
                   s.ttft_ms_p90, s.ttft_ms_p99, s.ttft_ms_mean);
  o += fmt::format("TPOT         p50 {:.2f} ms   p90 {:.2f} ms   p99 {:.2f} ms   (mean {:.2f} ms)\n", s.tpot_ms_p50,
                   s.tpot_ms_p90, s.tpot_ms_p99, s.tpot_ms_mean);
  o += fmt::format("end to end   p50 {:.2f} s   p90 {:.2f} s   p99 {:.2f} s\n", s.e2e_s_p50, s.e2e_s_p90, s.e2e_s_p99);
  o += fmt::format(
      "throughput   {:.1f} output tokens/s per GPU, {:.1f} input tokens/s per GPU, {:.1f} tokens/s per user\n",
      s.output_tokens_per_s_per_gpu, s.input_tokens_per_s_per_gpu, s.tokens_per_s_per_user);
  if (s.slo_ttft_ms > 0 || s.slo_tpot_ms > 0)
    o += fmt::format("goodput      {:.3f} requests/s meet TTFT <= {} ms and TPOT <= {} ms ({:.1f}% of completed)\n",
                     s.goodput_rps, s.slo_ttft_ms, s.slo_tpot_ms, 100 * s.slo_attainment);
  if (r.kv_transfers > 0) {
    o += fmt::format("KV transfer  {} transfers, {:.2f} GB; the all-to-all left them {:.1f}% of their route on average",
                     r.kv_transfers, s.kv_transfer_GB, 100 * s.kv_route_share);
    for (std::size_t p = 0; p < r.pools.size(); ++p)
      o += fmt::format("; {} steps {:.2f}% longer", pool_role_name(r.pools[p].role), 100 * s.kv_contention_fraction[p]);
    o += "\n";
  }
  o += fmt::format(
      "step costs   {} steps, {} simulated in full, {} new shapes interpolated (memo tolerance {}); memo error on "
      "{} sampled steps: p50 {:.2f}%, p99 {:.2f}%, max {:.2f}%\n",
      s.steps, s.steps_simulated, s.shapes_interpolated, v.memo_tolerance, s.memo_checked, 100 * s.memo_error_p50, 100 * s.memo_error_p99,
      100 * s.memo_error_max);
  o += fmt::format("wall time    {:.2f} s\n\n", r.wall_s);
  o += "The step figures below are those of the steps simulated in full.\n\n";
  return o;
}

}  // namespace moesim
