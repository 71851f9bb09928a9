// Simulation, continued: the expert placement during a run: whether it fits in GPU memory, and
// re-balancing it between steps (the weights it moves share the network with the next step).
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "engine/placement_builder.hpp"
#include "engine/simulation.hpp"

namespace moesim {

std::unique_ptr<MoeLayerPlanner> Simulation::make_planner() const {
  std::vector<int> hosts(static_cast<std::size_t>(gpus_));
  for (int g = 0; g < gpus_; ++g) hosts[static_cast<std::size_t>(g)] = topology_.gpu_host(g);
  const EpMode mode = kernel_.mode();
  return std::make_unique<MoeLayerPlanner>(
      placement_, hosts, mode_dedups(mode, scenario_.dedup),
      mode == EpMode::hierarchical && layout_->spans_scaleout() ? layout_->gpu_domain() : std::vector<int>{});
}

void Simulation::check_memory() {
  // The KV cache of the fullest rank's batch: decode contexts, or the prompt chunks' tokens.
  double cached = 0;
  for (std::size_t g = 0; g < batch_.ranks.size(); ++g) {
    double c = 0;
    for (const SeqChunk& q : batch_.ranks[g]) c += q.context + (q.prefill ? q.new_tokens : 0);
    if (!down_[g]) cached = std::max(cached, c);
  }
  memory_ = gpu_memory(scenario_.model, placement_, cached);
  const double gb = topology_.gpu_memory_GB > 0 ? topology_.gpu_memory_GB : profile_.memory_GB;
  memory_capacity_bytes_ = Bytes(gb * 1e9);
  if (gb <= 0 || memory_.max_total_bytes() <= memory_capacity_bytes_) return;
  const auto g = static_cast<std::size_t>(memory_.fullest_gpu());
  throw Infeasible(
      fmt::format("{}: does not fit in GPU memory with placement \"{}\": GPU {} needs {:.1f} GB (routed experts {:.1f} "
                  "GB + attention/dense/shared "
                  "weights {:.1f} GB + KV cache {:.1f} GB) but has {:.1f} GB: over by {:.1f} GB",
                  scenario_.file, setting_name(scenario_.placement), g, memory_.max_total_bytes().GB(),
                  memory_.expert_bytes[g].GB(), memory_.replicated_bytes.GB(), memory_.kv_bytes.GB(), gb,
                  (memory_.max_total_bytes() - memory_capacity_bytes_).GB()));
}

void Simulation::rebalance(int step) {
  std::vector<std::string> notes;
  Placement next = build_placement(scenario_, *gate_, topology_, gpus_, step, given_placement_, notes);
  // Every expert a GPU gains is copied from its first holder in the old placement.
  std::vector<double> bytes(static_cast<std::size_t>(gpus_) * static_cast<std::size_t>(gpus_), 0.0);
  std::int64_t copies = 0;
  for (int l = 0; l < next.layers(); ++l)
    for (int g = 0; g < gpus_; ++g)
      for (int e : next.local_experts(l, g)) {
        if (placement_.slot(l, e, g) >= 0) continue;
        const int from = placement_.replicas(l, e).front();
        bytes[static_cast<std::size_t>(from) * static_cast<std::size_t>(gpus_) + static_cast<std::size_t>(g)] +=
            scenario_.model.expert_weight_bytes();
        ++copies;
      }
  double total = 0;
  for (int s = 0; s < gpus_; ++s)
    for (int d = 0; d < gpus_; ++d) {
      const double b =
          bytes[static_cast<std::size_t>(s) * static_cast<std::size_t>(gpus_) + static_cast<std::size_t>(d)];
      if (b > 0) weight_moves_.push_back(FlowDecl{s, d, Bytes(b)});
      total += b;
    }
  weight_bytes_moved_ += Bytes(total);
  placement_ = std::move(next);
  planner_ = make_planner();
  check_memory();
  notes_.push_back(
      fmt::format("step {}: placement re-balanced from steps {}..{}: {} expert copies, {:.3f} GB of "
                  "weights moved during the step",
                  step, std::max(0, step - scenario_.placement_window_steps), step - 1, copies, total / 1e9));
}

void Simulation::move_weights() {
  if (weight_moves_.empty()) return;
  const std::int64_t first = network_->declare(weight_moves_, static_cast<std::uint64_t>(step_) * 7919u + 1);
  for (std::size_t i = 0; i < weight_moves_.size(); ++i)
    network_->start(first + static_cast<std::int64_t>(i),
                    [this](TimePs at) { weights_moved_ps_ = std::max(weights_moved_ps_, at); });
  weight_moves_.clear();
}

}  // namespace moesim
