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
  s.kernel_jitter = false;  // memoised costs stand for every step of a shape
  return s;
}
}  // namespace

StepCostModel::StepCostModel(const Scenario& scenario, const Topology& topology, const Profile& profile,
                             int extra_layers, double tolerance, int check_samples, const Placement* placement)
    : scenario_(quiet(scenario, extra_layers)),
      sim_(std::make_unique<Simulation>(scenario_, topology, profile, SimulationInputs{placement, {}, nullptr, true})),
      ranks_(Simulation::ep_gpus(scenario_, topology)),
      layers_(scenario_.model.layers),
      widths_{tolerance, 1.5 * tolerance, tolerance},
      samples_wanted_(tolerance > 0 ? check_samples : 0),
      rng_(Rng::derived(scenario.seed, 0x6d656d6fULL /* "memo" */)) {
  memo_.tolerance = tolerance;
  if (tolerance > 0) send_ps_per_token_ = probe_send_ps_per_token();
}

double StepCostModel::probe_send_ps_per_token() {
  // Prompt chunks with no context on rank 0 alone; the step's growth beyond the chunk's own
  // compute is what sending (and receiving back) its tokens costs.
  const auto one_rank = [&](int n, TimePs& compute_ps) {
    StepBatch b;
    b.ranks.assign(static_cast<std::size_t>(ranks_), {});
    b.ranks[0].push_back(SeqChunk{n, 0, true});
    compute_ps = sim_->pre_dispatch_ps(attention_work(b.ranks[0]));
    sim_->set_batch(b);
    return sim_->run_one_step();
  };
  constexpr int kSmall = 256, kLarge = 1024;
  TimePs c_small = 0, c_large = 0;
  const TimePs small = one_rank(kSmall, c_small);
  const TimePs large = one_rank(kLarge, c_large);
  sim_->forget_served();
  base_bytes_ = sim_->link_bytes();
  base_critical_ps_ = sim_->link_critical_ps();
  const double layers = layers_;
  const double grown = static_cast<double>(large - small) - layers * static_cast<double>(c_large - c_small);
  return std::max(0.0, grown / (layers * (kLarge - kSmall)));
}

StepCostModel::~StepCostModel() = default;

std::int32_t StepCostModel::bucket(double x, int dim) const {
  return x <= 0 ? -1 : static_cast<std::int32_t>(std::floor(std::log(x) / std::log1p(widths_[dim])));
}

TimePs StepCostModel::simulate(const StepBatch& batch) {
  sim_->set_batch(batch);
  ++memo_.simulated;
  const TimePs t = sim_->run_one_step();
  simulated_ps_ += t;
  return t;
}

void StepCostModel::link_load(LinkLoad& out) const {
  const std::vector<Bytes>& bytes = sim_->link_bytes();
  const std::vector<TimePs>& critical = sim_->link_critical_ps();
  out.bytes_per_ps.assign(bytes.size(), 0);
  out.critical_share.assign(bytes.size(), 0);
  if (simulated_ps_ <= 0) return;
  const auto per_ps = 1.0 / static_cast<double>(simulated_ps_);
  for (std::size_t l = 0; l < bytes.size(); ++l) {
    const double base_b = l < base_bytes_.size() ? base_bytes_[l].count() : 0;
    out.bytes_per_ps[l] = (bytes[l].count() - base_b) * per_ps;
    if (l < critical.size()) {
      const double base_c = l < base_critical_ps_.size() ? static_cast<double>(base_critical_ps_[l]) : 0;
      out.critical_share[l] = (static_cast<double>(critical[l]) - base_c) * per_ps;
    }
  }
}

TimePs StepCostModel::step_ps(const StepShape& shape, const std::function<void(StepBatch&)>& build) {
  ++memo_.lookups;
  const auto full = [&] {
    scratch_.ranks.assign(static_cast<std::size_t>(ranks_), {});
    build(scratch_);
    return simulate(scratch_);
  };
  if (memo_.tolerance <= 0) return full();
  const Key key{bucket(static_cast<double>(shape.tokens), 0), bucket(shape.max_rank_tokens, 1),
                bucket(static_cast<double>(shape.max_rank_ps), 2)};
  if (const auto it = memo_map_.find(key); it != memo_map_.end()) {
    const TimePs t = moved(it->second, shape);
    remember(build, t);
    return t;
  }
  // A new bucket among simulated batches on every side: the local plane's answer.
  if (Plane plane; fit_plane(shape, plane) && plane.surrounded) {
    const auto t = static_cast<TimePs>(std::llround(plane.at_ps));
    memo_map_.emplace(key, Entry{t, shape, plane.slope, static_cast<int>(points_.size()), true});
    ++memo_.interpolated;
    remember(build, t);
    return t;
  }
  const TimePs t = full();
  memo_map_.emplace(key, Entry{t, shape, {}, -1, false});
  points_.push_back({static_cast<double>(shape.tokens), static_cast<double>(shape.max_rank_tokens),
                     static_cast<double>(shape.max_rank_ps), static_cast<double>(t)});
  return t;
}

bool StepCostModel::fit_plane(const StepShape& at, Plane& plane) const {
  const double q[3] = {static_cast<double>(at.tokens), static_cast<double>(at.max_rank_tokens),
                       static_cast<double>(at.max_rank_ps)};
  if (q[0] <= 0 || q[1] <= 0 || q[2] <= 0) return false;
  // Weighted normal equations of step ~ b0 + sum_d b_d (x_d / q_d - 1).
  double a[4][5] = {};
  double weight_sum = 0;
  double below[3] = {}, above[3] = {};
  for (const Point& p : points_) {
    const double x[3] = {p.tokens / q[0] - 1, p.max_tokens / q[1] - 1, p.rank_ps / q[2] - 1};
    double d2 = 0;
    for (int d = 0; d < 3; ++d) {
      const double z = std::log1p(x[d]) / (2 * std::log1p(widths_[d]));
      d2 += z * z;
    }
    if (d2 > 16) continue;  // beyond four bandwidths: weight below 3e-4
    const double w = std::exp(-d2 / 2);
    const double f[4] = {1, x[0], x[1], x[2]};
    for (int d = 0; d < 3; ++d) (x[d] < 0 ? below : above)[d] += w;
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) a[r][c] += w * f[r] * f[c];
      a[r][4] += w * f[r] * p.step_ps;
    }
    weight_sum += w;
  }
  if (weight_sum < 8) return false;
  for (int r = 1; r < 4; ++r) a[r][r] += 1e-9 * weight_sum;  // a touch of ridge: shapes may be collinear
  for (int col = 0; col < 4; ++col) {                        // Gaussian elimination, partial pivoting
    int piv = col;
    for (int r = col + 1; r < 4; ++r)
      if (std::abs(a[r][col]) > std::abs(a[piv][col])) piv = r;
    if (std::abs(a[piv][col]) < 1e-300) return false;
    for (int c = 0; c < 5; ++c) std::swap(a[col][c], a[piv][c]);
    for (int r = 0; r < 4; ++r) {
      if (r == col) continue;
      const double f = a[r][col] / a[col][col];
      for (int c = col; c < 5; ++c) a[r][c] -= f * a[col][c];
    }
  }
  for (int d = 0; d < 3; ++d) plane.slope[static_cast<std::size_t>(d)] = a[d + 1][4] / a[d + 1][d + 1];
  plane.at_ps = a[0][4] / a[0][0];
  plane.surrounded = true;
  for (int d = 0; d < 3; ++d) plane.surrounded = plane.surrounded && below[d] >= 1 && above[d] >= 1;
  return true;
}

TimePs StepCostModel::moved(Entry& e, const StepShape& shape) {
  // Refit the entry's slopes once the simulated batches grew by a quarter since its last fit.
  const int n = static_cast<int>(points_.size());
  if (e.fitted_at < 0 || n >= e.fitted_at + std::max(4, e.fitted_at / 4)) {
    if (Plane plane; fit_plane(e.shape, plane)) {
      e.slope = plane.slope;
      if (e.interpolated) e.step_ps = static_cast<TimePs>(std::llround(plane.at_ps));
    } else {  // too few batches yet: every layer waits for the slowest rank
      e.slope = {0, 0, static_cast<double>(layers_) * static_cast<double>(e.shape.max_rank_ps)};
    }
    e.fitted_at = n;
  }
  const auto rel = [](double x, double at) { return at > 0 ? x / at - 1 : 0.0; };
  const double t =
      static_cast<double>(e.step_ps) +
      e.slope[0] * rel(static_cast<double>(shape.tokens), static_cast<double>(e.shape.tokens)) +
      e.slope[1] * rel(shape.max_rank_tokens, e.shape.max_rank_tokens) +
      e.slope[2] * rel(static_cast<double>(shape.max_rank_ps), static_cast<double>(e.shape.max_rank_ps));
  // Within one bucket the move is a few percent; never below half the simulated time.
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
