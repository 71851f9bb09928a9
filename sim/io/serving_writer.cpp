// Serving result files (see serving_writer.hpp).
#include "io/serving_writer.hpp"

#include <nlohmann/json.hpp>

#include "io/csv_writer.hpp"

namespace moesim::io {

namespace {
double seconds(TimePs t) { return static_cast<double>(t) * 1e-12; }
}  // namespace

void write_serving_files(const ServingResults& r, const ServingSummary& s, const std::filesystem::path& dir) {
  CsvWriter req;
  req.fields({"request", "arrival_s", "prompt_tokens", "output_tokens", "rank", "prefill_rank", "first_token_s",
              "finish_s", "ttft_ms", "tpot_ms", "e2e_s", "preemptions", "meets_slo"})
      .end_row();
  for (const RequestRecord& q : r.requests) {
    if (!q.done()) continue;  // refused requests are counted in the summary
    req.number(q.id).number(seconds(q.arrival_ps), "{:.6f}").number(q.prompt_tokens).number(q.output_tokens);
    req.number(q.rank).number(q.prefill_rank).number(seconds(q.first_token_ps), "{:.6f}");
    req.number(seconds(q.finish_ps), "{:.6f}").number(ttft_ms(q), "{:.4f}");
    if (q.output_tokens > 1)
      req.number(tpot_ms(q), "{:.4f}");
    else
      req.empty();
    req.number(seconds(q.finish_ps - q.arrival_ps), "{:.6f}").number(q.preemptions);
    req.number(meets_slo(q, s.slo_ttft_ms, s.slo_tpot_ms) ? 1 : 0).end_row();
  }
  req.save(dir / "per_request.csv");
  CsvWriter tl;
  tl.fields({"time_s", "pool", "waiting", "running", "kv_used_fraction_mean", "kv_used_fraction_max", "batch_tokens",
             "step_ms"})
      .end_row();
  for (const ServingSample& x : r.timeline)
    tl.number(seconds(x.time_ps), "{:.6f}")
        .text(pool_role_name(x.pool))
        .number(x.waiting)
        .number(x.running)
        .number(x.kv_used_fraction_mean, "{:.6f}")
        .number(x.kv_used_fraction_max, "{:.6f}")
        .number(x.batch_tokens)
        .number(static_cast<double>(x.step_ps) * 1e-9, "{:.4f}")
        .end_row();
  tl.save(dir / "serving_timeline.csv");
}

void add_serving_json(nlohmann::ordered_json& j, const ServingResults& r, const ServingSummary& s) {
  j["requests"] = s.requests;
  j["completed"] = s.completed;
  j["rejected"] = s.rejected;
  j["preemptions"] = s.preemptions;
  j["gpus"] = s.gpus;
  j["makespan_s"] = s.makespan_s;
  j["window_s"] = seconds(r.window_ps);
  j["ttft_ms_mean"] = s.ttft_ms_mean;
  j["tpot_ms_mean"] = s.tpot_ms_mean;
  j["e2e_s_mean"] = s.e2e_s_mean;
  j["output_tokens_per_s_in_window"] = s.window_output_tokens_per_s;
  j["output_tokens_per_s_over_makespan"] = s.output_tokens_per_s;
  j["mean_in_system"] = s.mean_in_system;
  j["slo_ttft_ms"] = s.slo_ttft_ms;
  j["slo_tpot_ms"] = s.slo_tpot_ms;
  j["kv_peak_fraction"] = s.kv_peak_fraction;
  j["kv_transfer_bytes"] = r.kv_transfer_bytes.count();
  j["kv_transfers"] = r.kv_transfers;
  j["kv_route_share_mean"] = s.kv_route_share;
  auto pools = nlohmann::ordered_json::array();
  for (std::size_t p = 0; p < r.pools.size(); ++p) {
    const PoolResult& x = r.pools[p];
    const MemoResult& m = r.memo[p];
    pools.push_back({{"role", pool_role_name(x.role)},
                     {"first_gpu", x.first_gpu},
                     {"ep", x.ep},
                     {"replicas", x.replicas},
                     {"kv_capacity_tokens_per_rank", x.kv_capacity_tokens},
                     {"kv_peak_tokens", x.kv_peak_tokens},
                     {"steps", x.steps},
                     {"busy_s", seconds(x.busy_ps)},
                     {"tokens", x.tokens},
                     {"kv_contention_s", seconds(x.kv_contention_ps)},
                     {"steps_simulated", m.simulated},
                     {"shapes_interpolated", m.interpolated},
                     {"memo_tolerance", m.tolerance},
                     {"memo_checked", m.check_error.size()}});
  }
  j["pools"] = pools;
  j["step_costs"] = {{"steps", s.steps},
                     {"simulated_in_full", s.steps_simulated},
                     {"shapes_interpolated", s.shapes_interpolated},
                     {"checked", s.memo_checked},
                     {"error_p50", s.memo_error_p50},
                     {"error_p99", s.memo_error_p99},
                     {"error_max", s.memo_error_max}};
  j["notes"] = r.notes;
}

}  // namespace moesim::io
