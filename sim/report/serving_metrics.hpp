#pragma once
// Request-level figures of a serving run: TTFT, TPOT and end-to-end latency percentiles,
// throughput per GPU and per user, goodput against the SLOs, and the step-cost memo's error.
#include <cstdint>
#include <vector>

#include "serve/serving_results.hpp"

namespace moesim {

struct ServingSummary {
  std::int64_t requests = 0;   // arrived in the window
  std::int64_t completed = 0;  // served to their last token
  std::int64_t rejected = 0;   // could never fit in one rank's KV cache
  std::int64_t preemptions = 0;
  int gpus = 0;
  double makespan_s = 0;  // until the last request finished
  double ttft_ms_mean = 0, ttft_ms_p50 = 0, ttft_ms_p90 = 0, ttft_ms_p99 = 0;
  double tpot_ms_mean = 0, tpot_ms_p50 = 0, tpot_ms_p90 = 0, tpot_ms_p99 = 0;  // requests with > 1 token
  double e2e_s_mean = 0, e2e_s_p50 = 0, e2e_s_p90 = 0, e2e_s_p99 = 0;
  double request_rate_per_s = 0;  // completed / makespan
  // Throughput in the arrival window (steady state, the drain left out): tokens produced by its end
  // (a request's output tokens spread evenly from its first to its last) / window / GPUs.
  double input_tokens_per_s_per_gpu = 0, output_tokens_per_s_per_gpu = 0;
  double window_output_tokens_per_s = 0;
  double output_tokens_per_s = 0;    // all output tokens / makespan
  double tokens_per_s_per_user = 0;  // mean over requests of (output - 1) / (finish - first token)
  double slo_ttft_ms = 0, slo_tpot_ms = 0;
  double slo_attainment = 0;    // fraction of completed requests meeting both SLOs
  double goodput_rps = 0;       // requests meeting both SLOs per second of the arrival window
  double mean_in_system = 0;    // time-average requests in the system (Little's law: rate x mean e2e)
  double kv_peak_fraction = 0;  // most KV cache any rank held / its capacity
  std::int64_t steps = 0;
  std::int64_t steps_simulated = 0;                                   // in full (memo misses)
  std::int64_t shapes_interpolated = 0;  // new batch shapes answered from simulated neighbours
  double memo_error_p50 = 0, memo_error_p99 = 0, memo_error_max = 0;  // |memo / full - 1| of the sample
  int memo_checked = 0;
  double kv_transfer_GB = 0;
  double kv_route_share = 1;  // mean over KV transfers: the share of its route the all-to-all left it
  // Step time added by KV transfers on the all-to-all's links, over all step time, per pool.
  std::vector<double> kv_contention_fraction;
};

// Whether a finished request met the SLOs (a bound of 0 is none).
bool meets_slo(const RequestRecord& r, double slo_ttft_ms, double slo_tpot_ms);
double ttft_ms(const RequestRecord& r);
double tpot_ms(const RequestRecord& r);  // 0 for a one-token request
ServingSummary summarize_serving(const ServingResults& results, double slo_ttft_ms, double slo_tpot_ms);

}  // namespace moesim
