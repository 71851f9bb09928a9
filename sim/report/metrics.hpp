#pragma once
// Derived figures of a run: latency percentiles, throughput, time by phase, load balance and
// hotspots. Every writer (terminal, JSON, CSV) takes them from here so they always agree.
#include <string>
#include <vector>

#include "engine/results.hpp"
#include "report/serving_metrics.hpp"

namespace moesim {

// Linear-interpolated percentile (numpy's default) of `values`, q in [0, 100]; 0 when empty.
double percentile(std::vector<double> values, double q);

struct Summary {
  int gpus = 0;
  int steps = 0;
  double step_us_mean = 0, step_us_p50 = 0, step_us_p90 = 0, step_us_p99 = 0;
  double tokens_per_s_total = 0;  // tokens of all steps / simulated time
  double tokens_per_s_per_gpu = 0;
  double critical_us[kPhaseCount] = {};  // mean per step, along the critical path
  double busy_us[kPhaseCount] = {};      // mean per GPU per step
  double load_max_over_mean = 0;         // token-expert assignments per GPU over the whole step, max / mean
  // Per MoE layer, max / mean over GPUs of the assignments received, averaged over layers: what
  // each layer's all-to-all and expert phase wait for. Its inverse is EPLB's "balancedness".
  double layer_load_max_over_mean = 0;
  int hottest_gpu = -1;
  double hottest_gpu_share = 0;  // its share of all assignments
  std::string hottest_link;      // by utilisation
  std::string hottest_link_class;
  double hottest_link_utilization = 0;  // bytes / (bandwidth x simulated time)
  double hottest_link_busy_fraction = 0;
  double hottest_link_peak_utilization = 0;
  // Critical-path attribution. The straggler: the GPU whose tasks (and sends) took the most
  // critical-path time, and its phase with the most; shares are of all critical-path time.
  int straggler_gpu = -1;
  std::string straggler_phase;
  double straggler_share = 0;
  double straggler_phase_share = 0;
  // The bottleneck link: the one that bounded the critical path's network segments the longest.
  std::string bottleneck_link;  // empty: no network segment on the critical path
  std::string bottleneck_link_class;
  double bottleneck_link_share = 0;        // of all critical-path time
  double bottleneck_link_class_share = 0;  // the same, for all links of its class together
  double bottleneck_link_utilization = 0;
  double bottleneck_link_busy_fraction = 0;
  double bottleneck_link_peak_utilization = 0;
  Bytes scaleout_bytes_per_step;  // over nic-class links, per step (one direction)
  Bytes network_bytes_per_step;   // dispatch + combine between GPUs, per step
  std::string critical_phase;     // phase with the most critical-path time
  // Expert capacity: token-expert assignments the gate made, and the fraction dropped (0 when off).
  std::int64_t routed_assignments = 0;
  std::int64_t dropped_assignments = 0;
  double dropped_fraction = 0;
  // A serving run: its request-level figures (the fields above describe its fully simulated steps).
  bool has_serving = false;
  ServingSummary serving;
};

Summary summarize(const Results& results);
double link_utilization(const LinkResult& link, TimePs total_ps);
// Time with at least one flow on the link / simulated time, both over the steps whose link activity
// was recorded (`output.link_activity_steps`; Results::link_activity_ps).
double link_busy_fraction(const LinkResult& link, TimePs recorded_ps);

}  // namespace moesim
