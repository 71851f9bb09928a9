#pragma once
// Step costs for the serving layer: the step engine run on the real batch composition, memoised by
// batch shape. A shape is (tokens over the EP group, most tokens on one rank, the slowest rank's
// time to hand its tokens on: one layer's attention + gate plus its tokens' send, per token as
// probed in full at the start). Two batches share a memo entry when their shapes fall in the same
// buckets (relative width `tolerance` in tokens and rank time, 1.5x that in most tokens); the first
// batch of a bucket is simulated in full, and the others take its time moved along the shape's
// local slopes: a least-squares plane over the simulated batches, weighted by closeness (Gaussian in
// log shape, two bucket widths), refitted as they grow; while too few are near, the engine's own
// first-order answer: every layer waits for the slowest rank, so the step moves by layers x the
// change in its time. A new bucket with simulated batches weighing in on both sides in every
// dimension takes the plane's answer instead of a full simulation. A plane over all simulated
// batches would be worse: it averages decode and prefill shapes. The engine draws each layer's
// routing once and reuses it (moe/reused_gate.hpp), so steps differ by their composition only. A
// reservoir of the memoised answers is re-simulated in full at the end to measure the shortcut's
// error.
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
  TimePs max_rank_ps = 0;  // rank_ps, the slowest rank's
};

class StepCostModel {
 public:
  // Simulates `scenario` (its EP group, model and network) with no output recording; the model
  // gains `extra_layers` MoE layers (the MTP module). `placement`: a from_file placement, or null.
  StepCostModel(const Scenario& scenario, const Topology& topology, const Profile& profile, int extra_layers,
                double tolerance, int check_samples, const Placement* placement);
  ~StepCostModel();
  int ranks() const { return ranks_; }
  // A rank's time to hand its tokens on in one MoE layer: attention + gate, then their send.
  TimePs rank_ps(const AttentionWork& work) const {
    return sim_->pre_dispatch_ps(work) + static_cast<TimePs>(send_ps_per_token_ * static_cast<double>(work.tokens));
  }
  // The step time of the batch with this shape; `build` fills the batch when it must be simulated.
  TimePs step_ps(const StepShape& shape, const std::function<void(StepBatch&)>& build);
  // Re-simulates the sampled memoised answers; fills memo.check_error.
  void check();
  const MemoResult& result() const { return memo_; }
  // What the steps simulated in full did to each link, per ps of step time: the bytes the
  // all-to-all put on it, and the critical-path time of the segments it bounded (a share).
  struct LinkLoad {
    std::vector<double> bytes_per_ps;
    std::vector<double> critical_share;
  };
  void link_load(LinkLoad& out) const;
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
    StepShape shape;                // of the batch simulated (or interpolated at)
    std::array<double, 3> slope{};  // step ps per relative change of tokens, most, rank time
    int fitted_at = -1;             // points_ when they were fitted (-1: never)
    bool interpolated = false;      // step_ps is the plane's, refitted with the slopes
  };
  struct Plane {
    double at_ps = 0;  // the fitted step time at the shape fitted around
    std::array<double, 3> slope{};
    bool surrounded = false;  // simulated batches weigh in on both sides in every dimension
  };
  struct Point {
    double tokens, max_tokens, rank_ps, step_ps;
  };
  std::int32_t bucket(double x, int dim) const;
  TimePs simulate(const StepBatch& batch);
  TimePs simulated_ps_ = 0;               // of the steps simulated in full
  std::vector<Bytes> base_bytes_;         // link bytes before them (the probes')
  std::vector<TimePs> base_critical_ps_;  // the same for link critical-path time
  // What one rank's tokens add to a step per token and layer besides their compute: two batches
  // on one rank, simulated.
  double probe_send_ps_per_token();
  TimePs moved(Entry& e, const StepShape& shape);  // e's time moved along its slopes to `shape`
  // The plane fitted around `at` (relative coordinates); false when too few points weigh in.
  bool fit_plane(const StepShape& at, Plane& plane) const;
  void remember(const std::function<void(StepBatch&)>& build, TimePs memo_ps);

  Scenario scenario_;
  std::unique_ptr<Simulation> sim_;
  int ranks_;
  int layers_;  // transformer layers a step runs (the MTP module's included)
  double send_ps_per_token_ = 0;
  std::unordered_map<Key, Entry, KeyHash> memo_map_;
  double widths_[3];           // relative bucket widths: tokens, most, rank time
  std::vector<Point> points_;  // every batch simulated in full
  MemoResult memo_;
  int samples_wanted_;
  std::vector<std::pair<StepBatch, TimePs>> samples_;  // reservoir of memoised answers and their time
  std::int64_t hits_ = 0;
  Rng rng_;
  StepBatch scratch_;
};

}  // namespace moesim
