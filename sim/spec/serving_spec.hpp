#pragma once
// What a scenario's [serving] part says: the requests (an arrival process and length
// distributions, or a request trace), how each data-parallel attention rank schedules them, the
// optional prefill/decode split and multi-token prediction, and the latency targets.
#include <cstdint>
#include <string>
#include <vector>

#include "spec/settings.hpp"

namespace moesim {

// How requests arrive: Poisson at rate_per_s; gamma inter-arrival times with mean 1/rate and a
// coefficient of variation (bursty when > 1); a closed loop of `users` that each send their next
// request think_s after the previous one finished; or the arrival times of a request trace.
enum class ArrivalKind : std::uint8_t { poisson, gamma, closed_loop, trace };
// A length distribution: one value; uniform integers in [min, max]; log-normal with the given mean
// and coefficient of variation, clamped to [min, max]; or drawn from a list of values.
enum class LengthKind : std::uint8_t { fixed, uniform, lognormal, empirical };
// Public request-trace formats: Azure LLM inference traces (CSV: TIMESTAMP, ContextTokens,
// GeneratedTokens), BurstGPT (CSV: Timestamp, ..., Request tokens, Response tokens, ...), Mooncake
// (JSONL: timestamp in ms, input_length, output_length, hash_ids).
enum class RequestTraceFormat : std::uint8_t { azure, burstgpt, mooncake };
// Which data-parallel attention rank a new request joins.
enum class RankRouting : std::uint8_t { round_robin, least_loaded };

template <>
struct SettingNames<ArrivalKind> {
  static constexpr std::array<std::string_view, 4> names{"poisson", "gamma", "closed_loop", "trace"};
};
template <>
struct SettingNames<LengthKind> {
  static constexpr std::array<std::string_view, 4> names{"fixed", "uniform", "lognormal", "empirical"};
};
template <>
struct SettingNames<RequestTraceFormat> {
  static constexpr std::array<std::string_view, 3> names{"azure", "burstgpt", "mooncake"};
};
template <>
struct SettingNames<RankRouting> {
  static constexpr std::array<std::string_view, 2> names{"round_robin", "least_loaded"};
};

struct LengthDist {
  LengthKind kind = LengthKind::fixed;
  int value = 1024;  // fixed
  double mean = 1024, cv = 1;          // lognormal
  int min = 1, max = 1 << 20;          // uniform bounds; lognormal clamp
  std::vector<int> values;             // empirical: drawn uniformly
};

// One pool of GPUs serving requests: `replicas` independent copies of an expert-parallel group of
// `ep` GPUs, each GPU one data-parallel attention rank with its own running batch. Pools take the
// topology's GPUs in order (a disaggregated deployment's prefill pool first, then its decode pool).
struct PoolSpec {
  int ep = 0;                     // 0 = parallelism.ep
  int replicas = 1;               // copies of the EP group; requests spread over all their ranks
  int max_running = 256;          // running requests per rank
  int max_batched_tokens = 8192;  // new tokens per rank per step (decode tokens + prefill chunks)
  int prefill_chunk = 2048;       // chunked prefill: most prompt tokens of one request per step
};

struct ServingSpec {
  bool enabled = false;  // the scenario has a [serving] table
  ArrivalKind arrival = ArrivalKind::poisson;
  double rate_per_s = 10;  // poisson, gamma
  double arrival_cv = 1;   // gamma
  int users = 64;          // closed_loop
  double think_s = 0;      // closed_loop
  double duration_s = 60;  // requests arriving in [0, duration_s) are simulated to completion
  int max_requests = 0;    // 0 = no limit: stop arrivals after this many requests
  LengthDist prompt, output;  // empirical: the lengths of the request trace (trace_path)
  std::string trace_path;  // absolute; arrival = trace, or empirical lengths
  RequestTraceFormat trace_format = RequestTraceFormat::azure;
  double trace_time_scale = 1;  // trace inter-arrival times are divided by it (2 = twice the rate)
  RankRouting routing = RankRouting::least_loaded;
  double kv_memory_fraction = 0.9;  // of the HBM left after weights, usable for KV cache
  PoolSpec pool;                    // colocated serving, or the decode pool when disaggregated
  bool disaggregated = false;
  PoolSpec prefill_pool{0, 1, 256, 16384, 2048};  // disaggregated: placed before the decode pool
  int mtp_draft_tokens = 0;         // multi-token prediction: draft tokens per decode step
  double mtp_acceptance = 0.8;      // probability each draft token is accepted (a rejection ends the run)
  double slo_ttft_ms = 0, slo_tpot_ms = 0;  // goodput targets (0 = none): a request meets both at p-any
  double memo_tolerance = 0.07;     // step-cost memo bucket width (relative)
  int check_samples = 100;          // memoised steps re-simulated in full to measure the memo's error
};

}  // namespace moesim
