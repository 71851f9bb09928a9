// Continuous batching on one rank (see rank_scheduler.hpp).
#include "serve/rank_scheduler.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace moesim {

RankScheduler::RankScheduler(int gpu, const PoolSpec& pool, std::int64_t kv_capacity_tokens, Mode mode,
                             int draft_tokens, double acceptance)
    : gpu_(gpu),
      pool_(pool),
      capacity_(kv_capacity_tokens),
      mode_(mode),
      draft_(mode == Mode::prefill_only ? 0 : draft_tokens),
      acceptance_(acceptance) {}

std::int64_t RankScheduler::still_needs(const LiveRequest& q) const {
  return q.prefilling() ? q.prompt - q.prefilled : 1 + draft_;
}

void RankScheduler::hold(std::int64_t tokens) {
  kv_used_ += tokens;
  if (kv_used_ > capacity_) throw Error("serving: a rank's KV cache overcommitted (a scheduler bug)");
  kv_peak_ = std::max(kv_peak_, kv_used_);
}

void RankScheduler::release_kv(std::int64_t tokens) { kv_used_ -= tokens; }

void RankScheduler::preempt_last(const Events& ev) {
  LiveRequest r = running_.back();
  running_.pop_back();
  kv_used_ -= r.kv;
  // Recompute: the prompt and the tokens produced so far are prefilled again when it resumes.
  r.prompt = r.prompt + (r.prefilling() ? 0 : r.generated);
  r.prefilled = 0;
  r.kv = 0;
  r.step_tokens = 0;
  waiting_.push_front(r);
  if (ev.preempted) ev.preempted(r.record);
}

void RankScheduler::plan(const Events& ev) {
  std::int64_t budget = pool_.max_batched_tokens;
  // What the running requests still need in the cache: decoding ones room for 1 + draft tokens,
  // prefilling ones the rest of their prompt. Decode growth first: preempt the latest admitted
  // until it fits.
  std::int64_t owed = 0;
  for (const LiveRequest& q : running_) owed += still_needs(q);
  while (!running_.empty() && kv_used_ + owed > capacity_) {
    owed -= still_needs(running_.back());
    preempt_last(ev);
  }
  step_tokens_ = 0;
  const auto schedule = [&](LiveRequest& q) {
    q.step_tokens = static_cast<int>(std::min(
        q.prefilling() ? std::min(q.prompt - q.prefilled, pool_.prefill_chunk) : std::int64_t{1} + draft_, budget));
    budget -= q.step_tokens;
    step_tokens_ += q.step_tokens;
  };
  for (LiveRequest& q : running_) {
    q.step_tokens = 0;
    if (budget > 0) schedule(q);
  }
  // Admissions, first come first served: the whole remaining prompt (and the first decode step's
  // tokens) must fit beside what the running requests hold and still need.
  while (!waiting_.empty() && budget > 0 && static_cast<int>(running_.size()) < pool_.max_running) {
    LiveRequest& w = waiting_.front();
    // A decode-only rank takes the prompt's KV cache whole.
    const std::int64_t need =
        (w.prefilling() ? w.prompt - w.prefilled : w.prompt) + (mode_ == Mode::prefill_only ? 0 : 1 + draft_);
    if (kv_used_ + owed + need > capacity_) break;
    LiveRequest r = w;
    waiting_.pop_front();
    if (!r.prefilling()) {
      // Decode-only ranks receive the prompt's KV cache whole (moved in from a prefill rank).
      hold(r.prompt);
      r.kv = r.prompt;
    }
    owed += still_needs(r);
    schedule(r);
    running_.push_back(r);
  }
}

AttentionWork RankScheduler::step_work() const {
  AttentionWork w;
  for (const LiveRequest& q : running_)
    if (q.step_tokens > 0) w.add({q.step_tokens, static_cast<int>(q.kv), q.prefilling()});
  return w;
}

void RankScheduler::append_chunks(RankBatch& out) const {
  for (const LiveRequest& q : running_)
    if (q.step_tokens > 0) out.push_back({q.step_tokens, static_cast<int>(q.kv), q.prefilling()});
}

void RankScheduler::finish_step(Rng& rng, const Events& ev) {
  std::size_t kept = 0;
  for (std::size_t i = 0; i < running_.size(); ++i) {
    LiveRequest q = running_[i];
    bool leaves = false;
    if (q.step_tokens > 0) {
      if (q.prefilling()) {
        hold(q.step_tokens);
        q.kv += q.step_tokens;
        q.prefilled += q.step_tokens;
        if (!q.prefilling()) {  // the prompt is in: the step produced the next token
          if (q.generated == 0 && ev.first_token) ev.first_token(q.record);
          ++q.generated;
          if (mode_ == Mode::prefill_only) {
            if (ev.prefilled) ev.prefilled(q);
            leaves = true;  // its KV stays held until the transfer completes
          }
        }
      } else {
        // Verified drafts: each accepted with probability `acceptance` until the first rejection.
        int produced = 1;
        while (produced < q.step_tokens && rng.uniform() < acceptance_) ++produced;
        produced = std::min(produced, q.target - q.generated);
        hold(produced);
        q.kv += produced;
        q.generated += produced;
      }
      if (!leaves && q.generated >= q.target) {
        kv_used_ -= q.kv;
        if (ev.finished) ev.finished(q.record);
        leaves = true;
      }
    }
    if (!leaves) running_[kept++] = q;
  }
  running_.resize(kept);
}

}  // namespace moesim
