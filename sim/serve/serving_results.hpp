#pragma once
// Raw results of a serving simulation: one record per request, samples of each pool's queues and
// KV cache over time, and how the step costs were obtained. report/ derives the percentiles.
#include <cstdint>
#include <string>
#include <vector>

#include "core/units.hpp"
#include "engine/results.hpp"

namespace moesim {

struct RequestRecord {
  std::int64_t id = 0;
  TimePs arrival_ps = 0;
  int prompt_tokens = 0;
  int output_tokens = 0;
  int rank = -1;          // the GPU that decoded it (colocated: also prefilled it)
  int prefill_rank = -1;  // disaggregated: the prefill GPU
  TimePs first_token_ps = -1;
  TimePs finish_ps = -1;  // -1: not finished (rejected: it can never fit in one rank's KV cache)
  int preemptions = 0;
  bool rejected = false;
  bool done() const { return finish_ps >= 0; }
};

enum class PoolRole : std::uint8_t { colocated, prefill, decode };
inline const char* pool_role_name(PoolRole r) {
  return r == PoolRole::colocated ? "colocated" : r == PoolRole::prefill ? "prefill" : "decode";
}

struct ServingSample {  // one pool at one time
  TimePs time_ps = 0;
  PoolRole pool = PoolRole::colocated;
  int waiting = 0;  // requests queued at its ranks
  int running = 0;
  double kv_used_fraction_mean = 0, kv_used_fraction_max = 0;  // over its ranks
  std::int64_t batch_tokens = 0;                               // of the last step started (all replicas)
  TimePs step_ps = 0;                                          // of that step
};

struct PoolResult {
  PoolRole role = PoolRole::colocated;
  int first_gpu = 0;
  int ep = 0;
  int replicas = 0;
  std::int64_t kv_capacity_tokens = 0;  // per rank
  std::int64_t steps = 0;               // over its replicas
  TimePs busy_ps = 0;                   // summed step time over replicas
  std::int64_t tokens = 0;              // new tokens computed (prefill chunks and decode tokens)
  std::int64_t kv_peak_tokens = 0;      // most KV cache any rank held
  TimePs kv_contention_ps = 0;          // step time added by KV transfers on its all-to-all's links
  int gpus() const { return ep * replicas; }
};

struct MemoResult {
  std::int64_t lookups = 0;
  std::int64_t simulated = 0;       // steps simulated in full (memo misses)
  std::int64_t interpolated = 0;    // new buckets answered by the plane through simulated neighbours
  std::vector<double> check_error;  // sampled memoised steps: memo / full simulation - 1
  double tolerance = 0;
};

struct ServingResults {
  std::vector<RequestRecord> requests;  // in arrival order
  std::vector<ServingSample> timeline;
  std::vector<PoolResult> pools;
  std::vector<MemoResult> memo;  // per pool
  TimePs window_ps = 0;          // the arrival window (duration_s)
  TimePs end_ps = 0;             // when the last request finished
  Bytes kv_transfer_bytes;       // disaggregated: KV cache moved from prefill to decode GPUs
  std::int64_t kv_transfers = 0;
  double kv_share_sum = 0;  // over transfers: the share of its route the pools' all-to-all left it
  std::int64_t preemptions = 0;
  std::vector<std::string> notes;
  double wall_s = 0;
  // The engine's figures of the steps the colocated (or decode) pool simulated in full.
  Results steps;
  RunStop stopped = RunStop::none;  // stopped by the run control: the figures are incomplete
};

}  // namespace moesim
