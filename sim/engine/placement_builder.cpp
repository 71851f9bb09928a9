// Placement from a file or from observed routing (see placement_builder.hpp).
#include "engine/placement_builder.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "engine/faults.hpp"
#include "moe/placement_strategies.hpp"

namespace moesim {

namespace {

// Expert loads (and, when asked, co-selection counts) per MoE layer over the first `steps` steps.
void observe(const Scenario& s, Gate& gate, int gpus, int first, int steps, bool pairs, PlacementInputs& in) {
  const int layers = s.model.moe_layers(), experts = s.model.routed_experts, k = s.model.top_k;
  const auto e = static_cast<std::size_t>(experts);
  in.load.assign(static_cast<std::size_t>(layers), std::vector<double>(e, 0.0));
  if (pairs) {
    in.coselect.assign(static_cast<std::size_t>(layers), std::vector<double>(e * (e - 1) / 2, 0.0));
    in.source_load.assign(static_cast<std::size_t>(layers),
                          std::vector<double>(static_cast<std::size_t>(gpus) * e, 0.0));
  }
  std::vector<int> ids;
  for (int step = first; step < first + steps; ++step)
    for (int l = 0; l < layers; ++l) {
      auto& load = in.load[static_cast<std::size_t>(l)];
      for (int g = 0; g < gpus; ++g) {
        gate.assign(step, l, g, s.workload.tokens_per_gpu, ids);
        for (int id : ids) load[static_cast<std::size_t>(id)] += 1;
        if (!pairs) continue;
        auto& from = in.source_load[static_cast<std::size_t>(l)];
        for (int id : ids) from[static_cast<std::size_t>(g) * e + static_cast<std::size_t>(id)] += 1;
        auto& co = in.coselect[static_cast<std::size_t>(l)];
        for (std::size_t t = 0; t + static_cast<std::size_t>(k) <= ids.size(); t += static_cast<std::size_t>(k))
          for (int a = 0; a < k; ++a)
            for (int b = a + 1; b < k; ++b) {
              const int x = std::min(ids[t + static_cast<std::size_t>(a)], ids[t + static_cast<std::size_t>(b)]);
              const int y = std::max(ids[t + static_cast<std::size_t>(a)], ids[t + static_cast<std::size_t>(b)]);
              co[coselect_index(x, y, experts)] += 1;
            }
      }
    }
}

Placement place(const Scenario& s, Gate& gate, const Topology& topology, int gpus, int before_step,
                const Placement* given, std::vector<std::string>& notes) {
  const int layers = s.model.moe_layers(), experts = s.model.routed_experts;
  if (s.placement == PlacementKind::from_file) {
    if (given == nullptr) throw Error(s.file + ": placement kind from_file, but no placement was loaded for it");
    return *given;
  }
  PlacementInputs in;
  in.moe_layers = layers;
  in.experts = experts;
  in.gpus = gpus;
  for (int g = 0; g < gpus; ++g) {
    in.gpu_host.push_back(topology.gpu_host(g));
    in.gpu_domain.push_back(topology.gpu_domain(g));
  }
  in.redundant_slots = s.redundant_slots;
  if (before_step == 0)
    if (auto note = uneven_experts_note(s, gpus)) notes.push_back(std::move(*note));
  if (s.placement != PlacementKind::contiguous && s.placement != PlacementKind::round_robin) {
    // The initial placement looks ahead at steps 0..W-1 (as statistics from earlier serving would);
    // a re-balance before step s looks back at steps s-W..s-1.
    const int first = before_step == 0 ? 0 : std::max(0, before_step - s.placement_window_steps);
    const int count = before_step == 0 ? std::min(s.placement_window_steps, s.workload.steps) : before_step - first;
    observe(s, gate, gpus, first, count, s.placement == PlacementKind::topology_aware, in);
    if (before_step == 0)
      notes.push_back(
          fmt::format("placement {} computed from the routing of steps 0..{}", setting_name(s.placement), count - 1));
  }
  try {
    return make_placement(s.placement, in);
  } catch (const InputError& e) {
    if (s.placement_where.empty()) throw;
    throw InputError(fmt::format("{}: {}", s.placement_where, e.what()));  // the key to change
  }
}

// Experts hosted by a down GPU keep their other replicas; an expert left with none moves to the
// surviving GPU hosting the fewest experts in that layer (lowest id on ties).
Placement fail_over(const Placement& p, const std::vector<char>& down, std::vector<std::string>& notes) {
  std::vector<std::vector<std::vector<int>>> replicas(static_cast<std::size_t>(p.layers()));
  int moved = 0, kept = 0;
  for (int l = 0; l < p.layers(); ++l) {
    std::vector<int> slots(static_cast<std::size_t>(p.gpus()), 0);
    auto& layer = replicas[static_cast<std::size_t>(l)];
    for (int e = 0; e < p.experts(); ++e) {
      std::vector<int> alive;
      bool lost = false;
      for (int g : p.replicas(l, e)) {
        if (down[static_cast<std::size_t>(g)])
          lost = true;
        else
          alive.push_back(g);
      }
      if (lost && !alive.empty()) ++kept;
      layer.push_back(alive);
      for (int g : alive) ++slots[static_cast<std::size_t>(g)];
    }
    for (auto& reps : layer) {
      if (!reps.empty()) continue;
      int best = -1;
      for (int g = 0; g < p.gpus(); ++g)
        if (!down[static_cast<std::size_t>(g)] &&
            (best < 0 || slots[static_cast<std::size_t>(g)] < slots[static_cast<std::size_t>(best)]))
          best = g;
      reps.push_back(best);
      ++slots[static_cast<std::size_t>(best)];
      ++moved;
    }
  }
  notes.push_back(
      fmt::format("GPU down: {} expert placements (over all layers) moved to surviving GPUs, {} served by "
                  "their remaining replicas",
                  moved, kept));
  return Placement(p.gpus(), std::move(replicas));
}

}  // namespace

std::optional<std::string> uneven_experts_note(const Scenario& s, int gpus) {
  const int experts = s.model.routed_experts;
  if ((s.placement != PlacementKind::contiguous && s.placement != PlacementKind::round_robin) || gpus <= 0 ||
      experts % gpus == 0)
    return std::nullopt;
  const int fewer = experts / gpus, more_gpus = experts % gpus;
  return fmt::format(
      "{} routed experts do not divide evenly over {} EP GPUs: with {} placement {} GPUs hold {} experts a layer "
      "and {} hold {}",
      experts, gpus, setting_name(s.placement), more_gpus, fewer + 1, gpus - more_gpus, fewer);
}

Placement build_placement(const Scenario& s, Gate& gate, const Topology& topology, int gpus, int before_step,
                          const Placement* given, std::vector<std::string>& notes) {
  Placement p = place(s, gate, topology, gpus, before_step, given, notes);
  const std::vector<char> down = down_gpus(s.faults, gpus);
  if (std::find(down.begin(), down.end(), 1) == down.end()) return p;
  return fail_over(p, down, notes);
}

}  // namespace moesim
