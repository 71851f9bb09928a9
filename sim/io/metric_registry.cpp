// The metric table (see metric_registry.hpp).
#include "io/metric_registry.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <type_traits>

namespace moesim::io {

namespace {

template <auto Member>
MetricValue field(const Summary& s) {
  using T = std::remove_cvref_t<decltype(s.*Member)>;
  if constexpr (std::is_integral_v<T>)
    return static_cast<std::int64_t>(s.*Member);
  else if constexpr (std::is_same_v<T, Bytes>)
    return (s.*Member).count();
  else
    return s.*Member;
}

// The order is summary.json's within each object, and sweep.csv's.
constexpr Metric kMetrics[] = {
    {"gpus", "GPUs", "GPUs in the simulated deployment", "{}", "", field<&Summary::gpus>},
    {"step_us_mean", "us", "step time, mean over the steps", "{:.4f}", "latency", field<&Summary::step_us_mean>},
    {"step_us_p50", "us", "step time, median", "{:.4f}", "latency", field<&Summary::step_us_p50>},
    {"step_us_p90", "us", "step time, 90th percentile", "{:.4f}", "latency", field<&Summary::step_us_p90>},
    {"step_us_p99", "us", "step time, 99th percentile", "{:.4f}", "latency", field<&Summary::step_us_p99>},
    {"tokens_per_s_total", "tokens/s", "tokens of all steps over the simulated time", "{:.2f}", "throughput",
     field<&Summary::tokens_per_s_total>},
    {"tokens_per_s_per_gpu", "tokens/s", "tokens_per_s_total per GPU", "{:.2f}", "throughput",
     field<&Summary::tokens_per_s_per_gpu>},
    {"layer_gpu_load_max_over_mean", "ratio",
     "token-expert assignments received per GPU, max over mean, per MoE layer, averaged over layers", "{:.6f}",
     "hotspots", field<&Summary::layer_load_max_over_mean>},
    {"gpu_load_max_over_mean", "ratio", "token-expert assignments per GPU over the whole step, max over mean", "{:.6f}",
     "hotspots", field<&Summary::load_max_over_mean>},
    {"hottest_gpu", "GPU id", "the GPU receiving the most assignments (-1: none)", "{}", "hotspots",
     field<&Summary::hottest_gpu>},
    {"hottest_gpu_share", "fraction", "the hottest GPU's share of all assignments", "{:.6f}", "hotspots",
     field<&Summary::hottest_gpu_share>},
    {"hottest_link", "link", "the most utilised link, as from->to", "{}", "hotspots", field<&Summary::hottest_link>},
    {"hottest_link_class", "link class", "the hottest link's class", "{}", "hotspots",
     field<&Summary::hottest_link_class>},
    {"hottest_link_utilization", "fraction", "the hottest link's bytes / (bandwidth x simulated time)", "{:.6f}",
     "hotspots", field<&Summary::hottest_link_utilization>},
    {"hottest_link_busy_fraction", "fraction",
     "the hottest link's time with a flow on it / simulated time (recorded steps)", "{:.6f}", "hotspots",
     field<&Summary::hottest_link_busy_fraction>},
    {"hottest_link_peak_utilization", "fraction",
     "the hottest link's largest share of its capacity in use over one 10 us window", "{:.6f}", "hotspots",
     field<&Summary::hottest_link_peak_utilization>},
    {"network_bytes_per_step", "bytes", "dispatch + combine bytes between GPUs, per step", "{:.0f}", "hotspots",
     field<&Summary::network_bytes_per_step>},
    {"scaleout_bytes_per_step", "bytes", "bytes over scale-out (nic) links, one direction, per step", "{:.0f}",
     "hotspots", field<&Summary::scaleout_bytes_per_step>},
    {"dominant_phase", "phase", "the phase with the most critical-path time", "{}", "critical_path_per_step",
     field<&Summary::critical_phase>},
    {"straggler_gpu", "GPU id", "the GPU whose tasks and sends took the most critical-path time (-1: none)", "{}",
     "bottlenecks", field<&Summary::straggler_gpu>},
    {"straggler_phase", "phase", "the straggler's phase with the most critical-path time", "{}", "bottlenecks",
     field<&Summary::straggler_phase>},
    {"straggler_share", "fraction", "the straggler's share of all critical-path time", "{:.6f}", "bottlenecks",
     field<&Summary::straggler_share>},
    {"straggler_phase_share", "fraction", "the straggler's phase's share of all critical-path time", "{:.6f}",
     "bottlenecks", field<&Summary::straggler_phase_share>},
    {"bottleneck_link", "link", "the link that bounded the critical path's network segments longest, as from->to", "{}",
     "bottlenecks", field<&Summary::bottleneck_link>},
    {"bottleneck_link_class", "link class", "the bottleneck link's class", "{}", "bottlenecks",
     field<&Summary::bottleneck_link_class>},
    {"bottleneck_link_share", "fraction", "critical-path time the bottleneck link bounded / all critical-path time",
     "{:.6f}", "bottlenecks", field<&Summary::bottleneck_link_share>},
    {"bottleneck_link_class_share", "fraction",
     "critical-path time that links of the bottleneck link's class bounded / all critical-path time", "{:.6f}",
     "bottlenecks", field<&Summary::bottleneck_link_class_share>},
    {"bottleneck_link_utilization", "fraction", "the bottleneck link's bytes / (bandwidth x simulated time)", "{:.6f}",
     "bottlenecks", field<&Summary::bottleneck_link_utilization>},
    {"bottleneck_link_busy_fraction", "fraction",
     "the bottleneck link's time with a flow on it / simulated time (recorded steps)", "{:.6f}", "bottlenecks",
     field<&Summary::bottleneck_link_busy_fraction>},
    {"bottleneck_link_peak_utilization", "fraction",
     "the bottleneck link's largest share of its capacity in use over one 10 us window", "{:.6f}", "bottlenecks",
     field<&Summary::bottleneck_link_peak_utilization>},
    // summary.json has the `capacity` object only when capacity is on.
    {"dropped_fraction", "fraction", "token-expert assignments dropped over expert capacity / all routed", "{:.6f}",
     "capacity", field<&Summary::dropped_fraction>},
    // Serving runs only: summary.json's `serving` object, and sweep.csv columns of serving sweeps.
#define MOESIM_SERVING(name, unit, text, fmt)                                   \
  {#name, unit, text, fmt, "serving", [](const Summary& s) -> MetricValue { \
     return static_cast<double>(s.serving.name);                              \
   }}
    MOESIM_SERVING(ttft_ms_p50, "ms", "time to first token, median over requests", "{:.3f}"),
    MOESIM_SERVING(ttft_ms_p90, "ms", "time to first token, 90th percentile", "{:.3f}"),
    MOESIM_SERVING(ttft_ms_p99, "ms", "time to first token, 99th percentile", "{:.3f}"),
    MOESIM_SERVING(tpot_ms_p50, "ms", "time per output token after the first, median over requests", "{:.3f}"),
    MOESIM_SERVING(tpot_ms_p90, "ms", "time per output token, 90th percentile", "{:.3f}"),
    MOESIM_SERVING(tpot_ms_p99, "ms", "time per output token, 99th percentile", "{:.3f}"),
    MOESIM_SERVING(e2e_s_p50, "s", "request latency from arrival to last token, median", "{:.4f}"),
    MOESIM_SERVING(e2e_s_p90, "s", "request latency, 90th percentile", "{:.4f}"),
    MOESIM_SERVING(e2e_s_p99, "s", "request latency, 99th percentile", "{:.4f}"),
    MOESIM_SERVING(output_tokens_per_s_per_gpu, "tokens/s", "output tokens produced in the arrival window / window / GPUs", "{:.2f}"),
    MOESIM_SERVING(input_tokens_per_s_per_gpu, "tokens/s", "prompt tokens prefilled in the arrival window / window / GPUs", "{:.2f}"),
    MOESIM_SERVING(tokens_per_s_per_user, "tokens/s", "per-user decode speed: mean of 1 / TPOT", "{:.2f}"),
    MOESIM_SERVING(request_rate_per_s, "requests/s", "completed requests / makespan", "{:.4f}"),
    MOESIM_SERVING(goodput_rps, "requests/s", "requests meeting both SLOs / arrival window", "{:.4f}"),
    MOESIM_SERVING(slo_attainment, "fraction", "completed requests meeting both SLOs", "{:.4f}"),
    MOESIM_SERVING(memo_error_p99, "fraction", "step-cost memo: |memo / full simulation - 1|, 99th percentile of the sample", "{:.5f}"),
#undef MOESIM_SERVING
    {"balancedness", "ratio", "EPLB's balancedness: 1 / layer_gpu_load_max_over_mean (0 when that is 0)", "{:.6f}", "",
     [](const Summary& s) -> MetricValue {
       return s.layer_load_max_over_mean > 0 ? 1.0 / s.layer_load_max_over_mean : 0;
     }},
};

}  // namespace

std::span<const Metric> metrics() { return kMetrics; }

const Metric& metric(std::string_view name) {
  for (const Metric& m : kMetrics)
    if (m.name == name) return m;
  throw std::logic_error(fmt::format("no metric named {}", name));
}

std::string format_metric(const Metric& m, const Summary& s, std::string_view format) {
  const std::string_view f = format.empty() ? m.format : format;
  return std::visit([&](const auto& v) { return fmt::format(fmt::runtime(f), v); }, m.read(s));
}

double metric_number(const Metric& m, const Summary& s) {
  const MetricValue v = m.read(s);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  throw std::logic_error(fmt::format("metric {} is text, not a number", m.name));
}

}  // namespace moesim::io
