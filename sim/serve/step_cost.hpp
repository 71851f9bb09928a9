#pragma once
// Step costs for the serving layer: the step engine run on the real batch composition, memoised by
// batch shape. Two batches share a memo entry when their total tokens, most tokens on one rank and
// slowest rank's attention fall in the same buckets of relative width `tolerance`; the first batch
// of a bucket is simulated in full and its time stands for the others, corrected within the bucket
// for the slowest rank's attention (every layer waits for that rank's dispatch: layers x the
// difference in its per-layer attention time). A reservoir of memo hits is re-simulated in full at
// the end to measure the shortcut's error.
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
  TimePs max_attention_ps = 0;  // one layer, the slowest rank
};

class StepCostModel {
 public:
  // Simulates `scenario` (its EP group, model and network) with no output recording; the model
  // gains `extra_layers` MoE layers (the MTP module). `placement`: a from_file placement, or null.
  StepCostModel(const Scenario& scenario, const Topology& topology, const Profile& profile, int extra_layers,
                double tolerance, int check_samples, const Placement* placement);
  ~StepCostModel();
  int ranks() const { return ranks_; }
  TimePs attention_ps(const AttentionWork& work) const { return sim_->attention_ps(work); }
  // The step time of the batch with this shape; `build` fills the batch when it must be simulated.
  TimePs step_ps(const StepShape& shape, const std::function<void(StepBatch&)>& build);
  // Re-simulates the sampled memo hits; fills memo.check_error.
  void check();
  const MemoResult& result() const { return memo_; }
  const Simulation& simulation() const { return *sim_; }
  Simulation& simulation() { return *sim_; }

 private:
  struct Key {
    std::int32_t tokens, max_tokens, attention;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      return (static_cast<std::size_t>(static_cast<std::uint32_t>(k.tokens)) * 0x9e3779b97f4a7c15ULL) ^
             (static_cast<std::size_t>(static_cast<std::uint32_t>(k.max_tokens)) * 0xc2b2ae3d27d4eb4fULL) ^
             static_cast<std::size_t>(static_cast<std::uint32_t>(k.attention));
    }
  };
  std::int32_t bucket(double x) const;
  TimePs simulate(const StepBatch& batch);

  Scenario scenario_;
  std::unique_ptr<Simulation> sim_;
  int ranks_;
  int layers_;       // transformer layers a step runs (the MTP module's included)
  double log_step_;  // log(1 + tolerance)
  struct Entry {
    TimePs step_ps;
    TimePs attention_ps;  // the simulated batch's slowest rank, one layer
  };
  TimePs corrected(const Entry& e, TimePs attention_ps) const;
  std::unordered_map<Key, Entry, KeyHash> memo_map_;
  MemoResult memo_;
  int samples_wanted_;
  std::vector<std::pair<StepBatch, TimePs>> samples_;  // reservoir of memo hits and their memo time
  std::int64_t hits_ = 0;
  Rng rng_;
  StepBatch scratch_;
};

}  // namespace moesim
