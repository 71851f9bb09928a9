#pragma once
// Step costs for the serving layer: the step engine run on the real batch composition, memoised by
// batch shape. A shape is (tokens over the EP group, most tokens on one rank, the slowest rank's
// compute before its dispatch: attention + gate of one layer). Two batches share a memo entry when
// their shapes fall in the same buckets of relative width `tolerance`; the first batch of a bucket
// is simulated in full, and the others take its time moved along the shape's slopes: the
// least-squares plane step ~ b0 + bT tokens + bM most + bC compute over every batch simulated so
// far (bC ~ layers: each layer waits for its slowest rank's dispatch). The engine draws each
// (layer, rank)'s routing once and reuses it (moe/reused_gate.hpp), so steps differ by their
// composition only. A reservoir of the memoised answers is re-simulated in full at the end to
// measure the shortcut's error.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "core/rng.hpp"
#include "engine/simulation.hpp"
#include "serve/serving_results.hpp"

namespace moesim {

struct StepShape {
  std::int64_t tokens = 0;  // over the EP group's ranks
  int max_rank_tokens = 0;
  TimePs max_compute_ps = 0;  // one MoE layer's attention + gate, the slowest rank
};

class StepCostModel {
 public:
  // Simulates `scenario` (its EP group, model and network) with no output recording; the model
  // gains `extra_layers` MoE layers (the MTP module). `placement`: a from_file placement, or null.
  StepCostModel(const Scenario& scenario, const Topology& topology, const Profile& profile, int extra_layers,
                double tolerance, int check_samples, const Placement* placement);
  ~StepCostModel();
  int ranks() const { return ranks_; }
  TimePs pre_dispatch_ps(const AttentionWork& work) const { return sim_->pre_dispatch_ps(work); }
  // The step time of the batch with this shape; `build` fills the batch when it must be simulated.
  TimePs step_ps(const StepShape& shape, const std::function<void(StepBatch&)>& build);
  // Re-simulates the sampled memoised answers; fills memo.check_error.
  void check();
  const MemoResult& result() const { return memo_; }
  const Simulation& simulation() const { return *sim_; }
  Simulation& simulation() { return *sim_; }

 private:
  struct Key {
    std::int32_t tokens, max_tokens, compute;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      return (static_cast<std::size_t>(static_cast<std::uint32_t>(k.tokens)) * 0x9e3779b97f4a7c15ULL) ^
             (static_cast<std::size_t>(static_cast<std::uint32_t>(k.max_tokens)) * 0xc2b2ae3d27d4eb4fULL) ^
             static_cast<std::size_t>(static_cast<std::uint32_t>(k.compute));
    }
  };
  struct Entry {
    TimePs step_ps;
    StepShape shape;  // of the batch simulated
  };
  std::int32_t bucket(double x) const;
  TimePs simulate(const StepBatch& batch);
  TimePs moved(const Entry& e, const StepShape& shape);  // e's time moved along the slopes to `shape`
  void fit_slopes();
  void remember(const std::function<void(StepBatch&)>& build, TimePs memo_ps);

  Scenario scenario_;
  std::unique_ptr<Simulation> sim_;
  int ranks_;
  int layers_;       // transformer layers a step runs (the MTP module's included)
  double log_step_;  // log(1 + tolerance)
  std::unordered_map<Key, Entry, KeyHash> memo_map_;
  // Least squares over the simulated batches: normal equations of (1, tokens, most, compute).
  std::array<std::array<double, 5>, 4> normal_{};
  std::array<double, 3> slope_{};  // per token, per token on the busiest rank, per ps of compute
  int points_ = 0;
  int fitted_at_ = 0;  // points_ when the slopes were last solved
  MemoResult memo_;
  int samples_wanted_;
  std::vector<std::pair<StepBatch, TimePs>> samples_;  // reservoir of memoised answers and their time
  std::int64_t hits_ = 0;
  Rng rng_;
  StepBatch scratch_;
};

}  // namespace moesim
