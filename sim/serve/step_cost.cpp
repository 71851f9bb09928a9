// Memoised step costs (see step_cost.hpp).
#include "serve/step_cost.hpp"

#include <cmath>

namespace moesim {

namespace {
Scenario quiet(Scenario s, int extra_layers) {
  s.timeline_steps = 0;
  s.link_activity_steps = 0;
  s.model.layers += extra_layers;
  // Weights only in the engine's memory check: the serving layer sizes the KV cache itself.
  s.workload.phase = WorkloadPhase::decode;
  s.workload.tokens_per_gpu = 1;
  s.workload.kv_len = 0;
  s.workload.kv_len_dist = LengthKind::fixed;
  s.faults.clear();
  return s;
}
}  // namespace

StepCostModel::StepCostModel(const Scenario& scenario, const Topology& topology, const Profile& profile,
                             int extra_layers, double tolerance, int check_samples, const Placement* placement)
    : scenario_(quiet(scenario, extra_layers)),
      sim_(std::make_unique<Simulation>(scenario_, topology, profile, SimulationInputs{placement, {}, nullptr, true})),
      ranks_(Simulation::ep_gpus(scenario_, topology)),
      layers_(scenario_.model.layers),
      log_step_(std::log1p(tolerance)),
      samples_wanted_(tolerance > 0 ? check_samples : 0),
      rng_(Rng::derived(scenario.seed, 0x6d656d6fULL /* "memo" */)) {
  memo_.tolerance = tolerance;
  slope_ = {0, 0, static_cast<double>(layers_)};  // until enough batches were simulated to fit
}

StepCostModel::~StepCostModel() = default;

std::int32_t StepCostModel::bucket(double x) const {
  return x <= 0 ? -1 : static_cast<std::int32_t>(std::floor(std::log(x) / log_step_));
}

TimePs StepCostModel::simulate(const StepBatch& batch) {
  sim_->set_batch(batch);
  ++memo_.simulated;
  return sim_->run_one_step();
}

TimePs StepCostModel::step_ps(const StepShape& shape, const std::function<void(StepBatch&)>& build) {
  ++memo_.lookups;
  const auto full = [&] {
    scratch_.ranks.assign(static_cast<std::size_t>(ranks_), {});
    build(scratch_);
    return simulate(scratch_);
  };
  if (memo_.tolerance <= 0) return full();
  const Key key{bucket(static_cast<double>(shape.tokens)), bucket(shape.max_rank_tokens),
                bucket(static_cast<double>(shape.max_compute_ps))};
  if (const auto it = memo_map_.find(key); it != memo_map_.end()) {
    const TimePs t = moved(it->second, shape);
    remember(build, t);
    return t;
  }
  const TimePs t = full();
  memo_map_.emplace(key, Entry{t, shape});
  const double f[4] = {1, static_cast<double>(shape.tokens), static_cast<double>(shape.max_rank_tokens),
                       static_cast<double>(shape.max_compute_ps)};
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) normal_[r][c] += f[r] * f[c];
    normal_[r][4] += f[r] * static_cast<double>(t);
  }
  ++points_;
  return t;
}

void StepCostModel::fit_slopes() {
  // Solve the normal equations (Gaussian elimination, partial pivoting) in scaled variables.
  std::array<std::array<double, 5>, 4> a = normal_;
  const double n = a[0][0];
  double scale[4] = {1, 1, 1, 1};
  for (int r = 1; r < 4; ++r) scale[r] = a[r][r] > 0 ? std::sqrt(a[r][r] / n) : 1;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) a[r][c] /= scale[r] * scale[c];
    a[r][4] /= scale[r];
  }
  for (int r = 1; r < 4; ++r) a[r][r] *= 1 + 1e-9;  // a touch of ridge: the shapes may be collinear
  for (int col = 0; col < 4; ++col) {
    int piv = col;
    for (int r = col + 1; r < 4; ++r)
      if (std::abs(a[r][col]) > std::abs(a[piv][col])) piv = r;
    if (std::abs(a[piv][col]) < 1e-300) return;  // keep the slopes we have
    std::swap(a[col], a[piv]);
    for (int r = 0; r < 4; ++r) {
      if (r == col) continue;
      const double f = a[r][col] / a[col][col];
      for (int c = col; c < 5; ++c) a[r][c] -= f * a[col][c];
    }
  }
  for (int d = 0; d < 3; ++d) slope_[static_cast<std::size_t>(d)] = a[d + 1][4] / a[d + 1][d + 1] / scale[d + 1];
  fitted_at_ = points_;
}

TimePs StepCostModel::moved(const Entry& e, const StepShape& shape) {
  // Refit when the simulated batches grew by a tenth (at least 16 of them first).
  if (points_ >= 16 && points_ >= fitted_at_ + std::max(1, fitted_at_ / 10)) fit_slopes();
  const double dt = static_cast<double>(shape.tokens - e.shape.tokens);
  const double dm = static_cast<double>(shape.max_rank_tokens - e.shape.max_rank_tokens);
  const double dc = static_cast<double>(shape.max_compute_ps - e.shape.max_compute_ps);
  const double t = static_cast<double>(e.step_ps) + slope_[0] * dt + slope_[1] * dm + slope_[2] * dc;
  // Within one bucket the move is a few percent at most; never below half the simulated time.
  return std::max<TimePs>(e.step_ps / 2, static_cast<TimePs>(std::llround(t)));
}

// Reservoir sampling over the memoised answers: each has the same chance of being checked.
void StepCostModel::remember(const std::function<void(StepBatch&)>& build, TimePs memo_ps) {
  ++hits_;
  if (samples_wanted_ <= 0) return;
  const auto slot = static_cast<std::size_t>(samples_.size() < static_cast<std::size_t>(samples_wanted_)
                                                 ? samples_.size()
                                                 : rng_.next_u64() % static_cast<std::uint64_t>(hits_));
  if (slot >= static_cast<std::size_t>(samples_wanted_)) return;
  StepBatch b;
  b.ranks.assign(static_cast<std::size_t>(ranks_), {});
  build(b);
  if (slot == samples_.size())
    samples_.emplace_back(std::move(b), memo_ps);
  else
    samples_[slot] = {std::move(b), memo_ps};
}

void StepCostModel::check() {
  memo_.check_error.clear();
  const std::int64_t simulated = memo_.simulated;
  for (const auto& [batch, memo_ps] : samples_) {
    const TimePs exact = simulate(batch);
    memo_.check_error.push_back(static_cast<double>(memo_ps) / static_cast<double>(exact) - 1);
  }
  memo_.simulated = simulated;  // the check's simulations are not part of the run
}

}  // namespace moesim
