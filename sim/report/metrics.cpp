// Derived metrics (see metrics.hpp).
#include "report/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace moesim {

TimePs GpuResult::compute_busy_ps() const {
  TimePs t = 0;
  for (int p = 0; p < kPhaseCount; ++p) {
    const auto ph = static_cast<Phase>(p);
    if (ph != Phase::dispatch && ph != Phase::combine && ph != Phase::stream_wait) t += busy_ps[p];
  }
  return t;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

double link_utilization(const LinkResult& link, TimePs total_ps) {
  if (total_ps <= 0 || link.bandwidth <= Bandwidth{}) return 0;
  return link.bytes / transfer_bytes(link.bandwidth, total_ps);
}

double link_busy_fraction(const LinkResult& link, TimePs recorded_ps) {
  return recorded_ps > 0 ? static_cast<double>(link.busy_ps) / static_cast<double>(recorded_ps) : 0;
}

namespace {

// The straggler and the bottleneck link (see Summary).
void attribute_critical_path(const Results& r, Summary& s) {
  double total_ps = 0;
  for (const StepResult& st : r.steps)
    for (TimePs t : st.critical_ps) total_ps += static_cast<double>(t);
  if (total_ps <= 0) return;
  TimePs most = 0;
  for (const GpuResult& g : r.gpus) {
    TimePs sum = 0;
    for (TimePs t : g.critical_ps) sum += t;
    if (sum <= most) continue;
    most = sum;
    s.straggler_gpu = g.gpu;
    s.straggler_share = static_cast<double>(sum) / total_ps;
    // Its phase: waiting for its own stream says less than the work that kept the stream busy.
    int best = -1;
    for (int p = 0; p < kPhaseCount; ++p)
      if (static_cast<Phase>(p) != Phase::stream_wait && g.critical_ps[p] > 0 &&
          (best < 0 || g.critical_ps[p] > g.critical_ps[best]))
        best = p;
    if (best < 0) best = static_cast<int>(Phase::stream_wait);
    s.straggler_phase = phase_name(static_cast<Phase>(best));
    s.straggler_phase_share = static_cast<double>(g.critical_ps[best]) / total_ps;
  }
  const LinkResult* bottleneck = nullptr;
  for (const LinkResult& l : r.links)
    if (l.critical_ps > 0 && (bottleneck == nullptr || l.critical_ps > bottleneck->critical_ps)) bottleneck = &l;
  if (bottleneck == nullptr) return;
  s.bottleneck_link = bottleneck->from + "->" + bottleneck->to;
  s.bottleneck_link_class = bottleneck->link_class;
  s.bottleneck_link_share = static_cast<double>(bottleneck->critical_ps) / total_ps;
  // Many links of one class (every GPU's NIC) can share the bounding between them.
  TimePs class_ps = 0;
  for (const LinkResult& l : r.links)
    if (l.link_class == bottleneck->link_class) class_ps += l.critical_ps;
  s.bottleneck_link_class_share = static_cast<double>(class_ps) / total_ps;
  s.bottleneck_link_utilization = link_utilization(*bottleneck, r.total_ps);
  s.bottleneck_link_busy_fraction = link_busy_fraction(*bottleneck, r.link_activity_ps);
  s.bottleneck_link_peak_utilization = bottleneck->peak_occupancy;
}

}  // namespace

Summary summarize(const Results& r) {
  Summary s;
  s.gpus = static_cast<int>(r.gpus.size());
  s.steps = static_cast<int>(r.steps.size());
  if (s.steps == 0 || s.gpus == 0) return s;
  std::vector<double> step_us;
  double tokens = 0;
  TimePs sim_ps = 0;
  for (const StepResult& st : r.steps) {
    step_us.push_back(us_from_ps(st.step_ps()));
    tokens += static_cast<double>(st.tokens);
    sim_ps += st.step_ps();
    for (int p = 0; p < kPhaseCount; ++p) s.critical_us[p] += us_from_ps(st.critical_ps[p]) / s.steps;
  }
  for (double v : step_us) s.step_us_mean += v / s.steps;
  s.step_us_p50 = percentile(step_us, 50);
  s.step_us_p90 = percentile(step_us, 90);
  s.step_us_p99 = percentile(step_us, 99);
  s.tokens_per_s_total = tokens / (static_cast<double>(sim_ps) * 1e-12);
  s.tokens_per_s_per_gpu = s.tokens_per_s_total / s.gpus;

  double total = 0, max = 0;
  for (const GpuResult& g : r.gpus) {
    total += static_cast<double>(g.received);
    if (static_cast<double>(g.received) > max) {
      max = static_cast<double>(g.received);
      s.hottest_gpu = g.gpu;
    }
    for (int p = 0; p < kPhaseCount; ++p) s.busy_us[p] += us_from_ps(g.busy_ps[p]) / (s.gpus * s.steps);
  }
  s.load_max_over_mean = total > 0 ? max / (total / s.gpus) : 0;
  int moe_layers = 0;
  for (const LayerResult& l : r.layers) {
    if (!l.moe || l.received_total == 0) continue;
    ++moe_layers;
    s.layer_load_max_over_mean +=
        static_cast<double>(l.received_max_sum) / (static_cast<double>(l.received_total) / s.gpus);
  }
  if (moe_layers > 0) s.layer_load_max_over_mean /= moe_layers;
  for (const LayerResult& l : r.layers) {
    s.routed_assignments += l.routed_total;
    s.dropped_assignments += l.dropped_total;
  }
  if (s.routed_assignments > 0)
    s.dropped_fraction = static_cast<double>(s.dropped_assignments) / static_cast<double>(s.routed_assignments);
  s.hottest_gpu_share = total > 0 ? max / total : 0;

  for (const LinkResult& l : r.links) {
    const double u = link_utilization(l, r.total_ps);
    if (u > s.hottest_link_utilization) {
      s.hottest_link_utilization = u;
      s.hottest_link = l.from + "->" + l.to;
      s.hottest_link_class = l.link_class;
      s.hottest_link_busy_fraction = link_busy_fraction(l, r.link_activity_ps);
      s.hottest_link_peak_utilization = l.peak_occupancy;
    }
    // A scale-out byte crosses two nic links (up at the sender, down at the receiver).
    if (l.link_class == "nic") s.scaleout_bytes_per_step += l.bytes / 2 / s.steps;
  }
  for (const LayerResult& l : r.layers) s.network_bytes_per_step += (l.dispatch_bytes + l.combine_bytes) / s.steps;
  int best = 0;
  for (int p = 1; p < kPhaseCount; ++p)
    if (s.critical_us[p] > s.critical_us[best]) best = p;
  s.critical_phase = phase_name(static_cast<Phase>(best));
  attribute_critical_path(r, s);
  return s;
}

}  // namespace moesim
