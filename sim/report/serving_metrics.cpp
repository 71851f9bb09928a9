// Request-level serving figures (see serving_metrics.hpp).
#include "report/serving_metrics.hpp"

#include <algorithm>
#include <cmath>

#include "report/metrics.hpp"

namespace moesim {

double ttft_ms(const RequestRecord& r) { return static_cast<double>(r.first_token_ps - r.arrival_ps) * 1e-9; }

double tpot_ms(const RequestRecord& r) {
  if (r.output_tokens <= 1) return 0;
  return static_cast<double>(r.finish_ps - r.first_token_ps) * 1e-9 / (r.output_tokens - 1);
}

bool meets_slo(const RequestRecord& r, double slo_ttft_ms, double slo_tpot_ms) {
  if (!r.done()) return false;
  if (slo_ttft_ms > 0 && ttft_ms(r) > slo_ttft_ms) return false;
  return !(slo_tpot_ms > 0 && r.output_tokens > 1 && tpot_ms(r) > slo_tpot_ms);
}

namespace {
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}
}  // namespace

ServingSummary summarize_serving(const ServingResults& res, double slo_ttft_ms, double slo_tpot_ms) {
  ServingSummary s;
  s.slo_ttft_ms = slo_ttft_ms;
  s.slo_tpot_ms = slo_tpot_ms;
  for (const PoolResult& p : res.pools) {
    s.gpus += p.gpus();
    s.steps += p.steps;
    if (p.kv_capacity_tokens > 0)
      s.kv_peak_fraction = std::max(s.kv_peak_fraction,
                                    static_cast<double>(p.kv_peak_tokens) / static_cast<double>(p.kv_capacity_tokens));
  }
  s.makespan_s = static_cast<double>(res.end_ps) * 1e-12;
  s.preemptions = res.preemptions;
  s.kv_transfer_GB = res.kv_transfer_bytes.GB();
  if (res.kv_transfers > 0) s.kv_route_share = res.kv_share_sum / static_cast<double>(res.kv_transfers);
  for (const PoolResult& p : res.pools)
    s.kv_contention_fraction.push_back(
        p.busy_ps > 0 ? static_cast<double>(p.kv_contention_ps) / static_cast<double>(p.busy_ps) : 0.0);
  std::vector<double> ttft, tpot, e2e, speed;
  double input = 0, output = 0, e2e_sum_s = 0;
  // Tokens produced within the arrival window (steady state, without the drain): a prompt counts
  // when its first token comes out, a request's later tokens evenly from then to its last.
  const double window_s = static_cast<double>(res.window_ps) * 1e-12;
  double input_in_window = 0, output_in_window = 0;
  std::int64_t good = 0;
  for (const RequestRecord& r : res.requests) {
    ++s.requests;
    if (r.rejected) ++s.rejected;
    if (!r.done()) continue;
    ++s.completed;
    ttft.push_back(ttft_ms(r));
    const double e = static_cast<double>(r.finish_ps - r.arrival_ps) * 1e-12;
    e2e.push_back(e);
    e2e_sum_s += e;
    if (r.output_tokens > 1) {
      tpot.push_back(tpot_ms(r));
      speed.push_back(1e3 / std::max(tpot.back(), 1e-9));
    }
    input += r.prompt_tokens;
    output += r.output_tokens;
    const double first_s = static_cast<double>(r.first_token_ps) * 1e-12;
    const double last_s = static_cast<double>(r.finish_ps) * 1e-12;
    if (first_s <= window_s) {
      input_in_window += r.prompt_tokens;
      output_in_window += 1;
      if (r.output_tokens > 1)
        output_in_window += (r.output_tokens - 1) *
                            (last_s <= window_s ? 1.0 : (window_s - first_s) / std::max(last_s - first_s, 1e-12));
    }
    good += meets_slo(r, slo_ttft_ms, slo_tpot_ms) ? 1 : 0;
  }
  s.ttft_ms_mean = mean(ttft);
  s.ttft_ms_p50 = percentile(ttft, 50);
  s.ttft_ms_p90 = percentile(ttft, 90);
  s.ttft_ms_p99 = percentile(ttft, 99);
  s.tpot_ms_mean = mean(tpot);
  s.tpot_ms_p50 = percentile(tpot, 50);
  s.tpot_ms_p90 = percentile(tpot, 90);
  s.tpot_ms_p99 = percentile(tpot, 99);
  s.e2e_s_mean = mean(e2e);
  s.e2e_s_p50 = percentile(e2e, 50);
  s.e2e_s_p90 = percentile(e2e, 90);
  s.e2e_s_p99 = percentile(e2e, 99);
  s.tokens_per_s_per_user = mean(speed);
  if (s.makespan_s > 0) {
    s.request_rate_per_s = static_cast<double>(s.completed) / s.makespan_s;
    s.output_tokens_per_s = output / s.makespan_s;
  }
  if (window_s > 0) {
    s.goodput_rps = static_cast<double>(good) / window_s;
    s.window_output_tokens_per_s = output_in_window / window_s;
    if (s.gpus > 0) {
      s.input_tokens_per_s_per_gpu = input_in_window / window_s / s.gpus;
      s.output_tokens_per_s_per_gpu = s.window_output_tokens_per_s / s.gpus;
    }
  }
  if (s.makespan_s > 0) {
    s.mean_in_system = e2e_sum_s / s.makespan_s;
  }
  s.slo_attainment = s.completed > 0 ? static_cast<double>(good) / static_cast<double>(s.completed) : 0;
  std::vector<double> err;
  for (const MemoResult& m : res.memo) {
    s.steps_simulated += m.simulated;
    s.shapes_interpolated += m.interpolated;
    for (double e : m.check_error) err.push_back(std::abs(e));
  }
  s.memo_checked = static_cast<int>(err.size());
  s.memo_error_p50 = percentile(err, 50);
  s.memo_error_p99 = percentile(err, 99);
  s.memo_error_max = err.empty() ? 0 : *std::max_element(err.begin(), err.end());
  return s;
}

}  // namespace moesim
