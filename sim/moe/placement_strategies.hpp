#pragma once
// Expert placement strategies (contiguous, round robin, load-greedy, EPLB redundant, topology
// aware), each computed per MoE layer from the loads observed in a window, assumed to predict
// the loads to come.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "moe/placement.hpp"

namespace moesim {

struct PlacementInputs {
  int moe_layers = 0, experts = 0, gpus = 0;
  std::vector<int> gpu_host;    // [gpu] server/tray id (checked for size when given; unused so far)
  std::vector<int> gpu_domain;  // [gpu] NVLink domain (HGX node or NVL rack); redundant, topology_aware
  // [layer][expert] tokens routed in the observation window (greedy, redundant, topology_aware).
  std::vector<std::vector<double>> load;
  // [layer] flat upper-triangular E x E pair counts (i < j at coselect_index(i, j, E)); may be
  // empty except for topology_aware over more than one domain.
  std::vector<std::vector<double>> coselect;
  int redundant_slots = 0;  // extra expert slots in total (redundant strategy)
  // [layer][gpu * experts + expert] tokens routed from that GPU in the window; may be empty.
  // topology_aware uses it to put each group of co-selected experts in the domain its tokens come from.
  std::vector<std::vector<double>> source_load;
};

// Index of the pair (i, j), i < j, in a flat upper-triangular E x E array of E * (E - 1) / 2.
inline std::size_t coselect_index(int i, int j, int experts) {
  const auto a = static_cast<std::size_t>(i), b = static_cast<std::size_t>(j), e = static_cast<std::size_t>(experts);
  return a * e - a * (a + 1) / 2 + b - a - 1;
}

// Kinds:
//   contiguous, round_robin: as make_placement(kind, layers, experts, gpus); inputs beyond the
//     counts are ignored.
//   greedy: per layer, experts by load descending (ties: lower id) each onto the least-loaded
//     GPU (ties: lower id) among GPUs with fewer than ceil(experts / gpus) experts.
//   redundant: DeepSeek EPLB (rebalance_experts): R = redundant_slots extra replicas of the
//     heaviest experts, packed to domains then GPUs; every GPU gets (experts + R) / gpus slots.
//   topology_aware: experts clustered into domains (equal counts, by GPU share) to maximise the
//     co-selection weight inside domains, then the greedy rule inside each domain.
// Throws InputError on missing or mis-sized inputs or an impossible R; Error for from_file.
Placement make_placement(PlacementKind kind, const PlacementInputs& in);
std::vector<PlacementKind> placement_strategy_kinds();  // every kind but from_file

// Per-GPU load of one layer: each expert's load split evenly over its replicas and summed on the
// GPUs that host them (as the planner splits tokens, to within one token: moe/moe_layer.hpp).
std::vector<double> gpu_load(const Placement& p, int layer, const std::vector<double>& expert_load);

// Expert weight memory per GPU: sum over layers of the slots on the GPU times bytes_per_expert.
std::vector<double> expert_bytes_per_gpu(const Placement& p, double bytes_per_expert);

}  // namespace moesim
