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
      sim_(std::make_unique<Simulation>(scenario_, topology, profile, SimulationInputs{placement, {}, nullptr})),
      ranks_(Simulation::ep_gpus(scenario_, topology)),
      layers_(scenario_.model.layers),
      log_step_(std::log1p(tolerance)),
      samples_wanted_(tolerance > 0 ? check_samples : 0),
      rng_(Rng::derived(scenario.seed, 0x6d656d6fULL /* "memo" */)) {
  memo_.tolerance = tolerance;
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
                bucket(static_cast<double>(shape.max_attention_ps))};
  const auto it = memo_map_.find(key);
  if (it == memo_map_.end()) {
    const TimePs t = full();
    memo_map_.emplace(key, Entry{t, shape.max_attention_ps});
    return t;
  }
  const TimePs memo_ps = corrected(it->second, shape.max_attention_ps);
  // Reservoir sampling: every hit has the same chance samples_wanted_ / hits of being checked.
  ++hits_;
  if (samples_wanted_ > 0) {
    const auto slot = static_cast<std::size_t>(
        samples_.size() < static_cast<std::size_t>(samples_wanted_)
            ? samples_.size()
            : rng_.next_u64() % static_cast<std::uint64_t>(hits_));
    if (slot < static_cast<std::size_t>(samples_wanted_)) {
      StepBatch b;
      b.ranks.assign(static_cast<std::size_t>(ranks_), {});
      build(b);
      if (slot == samples_.size())
        samples_.emplace_back(std::move(b), memo_ps);
      else
        samples_[slot] = {std::move(b), memo_ps};
    }
  }
  return memo_ps;
}

TimePs StepCostModel::corrected(const Entry& e, TimePs attention_ps) const {
  return std::max<TimePs>(1, e.step_ps + static_cast<TimePs>(layers_) * (attention_ps - e.attention_ps));
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
