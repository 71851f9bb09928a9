#pragma once
// One data-parallel attention rank's continuous batching: a FCFS queue, a running batch limited by
// max_running and max_batched_tokens per step, chunked prefill, and a KV cache of fixed capacity
// in tokens. A request is admitted only when its remaining prompt fits beside what the running
// requests hold and still need for their prompts; when decode growth does not fit, the most
// recently admitted request is preempted (its KV freed, recomputed later from its prompt and the
// tokens it had produced). The cache never holds more than its capacity.
#include <cstdint>
#include <deque>
#include <functional>
#include <vector>

#include "core/rng.hpp"
#include "core/units.hpp"
#include "spec/serving_spec.hpp"
#include "spec/step_batch.hpp"

namespace moesim {

struct LiveRequest {
  int record = 0;       // index of its RequestRecord
  int prompt = 0;       // tokens to prefill (after a preemption: prompt + tokens produced)
  int prefilled = 0;    // of them, in the KV cache
  int generated = 0;    // output tokens produced
  int target = 0;       // output tokens wanted
  std::int64_t kv = 0;  // KV tokens it holds
  int step_tokens = 0;  // scheduled in the current step
  bool prefilling() const { return prefilled < prompt; }
};

class RankScheduler {
 public:
  // What happens to requests when a step ends (any may be empty).
  struct Events {
    std::function<void(int record)> first_token;
    std::function<void(int record)> finished;
    // prefill-only ranks: the prompt is in the cache; the KV stays held until release_kv()
    std::function<void(const LiveRequest&)> prefilled;
    std::function<void(int record)> preempted;
  };
  // mode: colocated (prefill and decode), prefill_only, decode_only.
  enum class Mode : std::uint8_t { colocated, prefill_only, decode_only };
  RankScheduler(int gpu, const PoolSpec& pool, std::int64_t kv_capacity_tokens, Mode mode, int draft_tokens,
                double acceptance);

  void enqueue(const LiveRequest& r) { waiting_.push_back(r); }
  // Plans the next step (preemptions, admissions, this step's tokens of each running request).
  void plan(const Events& ev);
  std::int64_t step_tokens() const { return step_tokens_; }
  AttentionWork step_work() const;
  void append_chunks(RankBatch& out) const;
  // The step just planned has ended: prompts advance, tokens come out, finished requests leave.
  void finish_step(Rng& rng, const Events& ev);
  void release_kv(std::int64_t tokens);  // prefill_only: a prompt's KV has moved away

  int gpu() const { return gpu_; }
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }
  int waiting() const { return static_cast<int>(waiting_.size()); }
  int running() const { return static_cast<int>(running_.size()); }
  std::int64_t kv_used() const { return kv_used_; }
  std::int64_t kv_capacity() const { return capacity_; }
  std::int64_t kv_peak() const { return kv_peak_; }
  // Requests here, queued or running (least_loaded routing).
  int load() const { return waiting() + running(); }

 private:
  // Cache room a running request still needs: the rest of its prompt, or 1 + draft tokens.
  std::int64_t still_needs(const LiveRequest& q) const;
  void preempt_last(const Events& ev);
  void hold(std::int64_t tokens);

  int gpu_;
  PoolSpec pool_;
  std::int64_t capacity_;
  Mode mode_;
  int draft_;
  double acceptance_;
  std::deque<LiveRequest> waiting_;
  std::vector<LiveRequest> running_;  // in admission order
  std::int64_t kv_used_ = 0;
  std::int64_t kv_peak_ = 0;
  std::int64_t step_tokens_ = 0;
};

}  // namespace moesim
