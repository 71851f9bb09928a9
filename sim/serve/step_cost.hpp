#pragma once
// Step costs for the serving layer: the step engine run on the real batch composition, memoised by
// batch shape. A shape is (tokens over the EP group, most tokens on one rank, the slowest rank's
// compute before its dispatch: attention + gate of one layer). Two batches share a memo entry when
// their shapes fall in the same buckets (relative width `tolerance` in tokens and compute, 1.5x
// that in most tokens); the first batch of a bucket is simulated in full, and the others take its
// time moved along the shape's local slopes: a least-squares plane over the simulated batches,
// weighted by closeness to the bucket's (Gaussian in log shape, two bucket widths), refitted as
// they grow; while too few are near, the engine's own first-order answer: every layer waits for
// the slowest rank's dispatch, so the step moves by layers x the change in its compute. A plane
// over all simulated batches would be worse: it averages decode and prefill shapes. The engine draws
// each layer's routing once and reuses it (moe/reused_gate.hpp), so steps differ by their
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
    StepShape shape;                // of the batch simulated
    std::array<double, 3> slope{};  // step ps per relative change of tokens, most, compute
    int fitted_at = -1;             // points_ when they were fitted (-1: never)
  };
  struct Point {
    double tokens, max_tokens, compute_ps, step_ps;
  };
  std::int32_t bucket(double x, int dim) const;
  TimePs simulate(const StepBatch& batch);
  TimePs moved(Entry& e, const StepShape& shape);  // e's time moved along its slopes to `shape`
  // The plane fitted around `at` (relative coordinates); false when too few points weigh in.
  bool fit_slopes(const StepShape& at, std::array<double, 3>& slope) const;
  void remember(const std::function<void(StepBatch&)>& build, TimePs memo_ps);

  Scenario scenario_;
  std::unique_ptr<Simulation> sim_;
  int ranks_;
  int layers_;  // transformer layers a step runs (the MTP module's included)
  std::unordered_map<Key, Entry, KeyHash> memo_map_;
  double widths_[3];           // relative bucket widths: tokens, most, compute
  std::vector<Point> points_;  // every batch simulated in full
  MemoResult memo_;
  int samples_wanted_;
  std::vector<std::pair<StepBatch, TimePs>> samples_;  // reservoir of memoised answers and their time
  std::int64_t hits_ = 0;
  Rng rng_;
  StepBatch scratch_;
};

}  // namespace moesim
