// Fault what-ifs (see faults.hpp).
#include "engine/faults.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"

namespace moesim {

void apply_link_faults(Topology& topology, const std::vector<FaultSpec>& faults) {
  bool changed = false;
  for (const FaultSpec& f : faults) {
    if (f.kind != FaultKind::link_down && f.kind != FaultKind::link_degraded) continue;
    const int a = topology.find_node(f.a), b = topology.find_node(f.b);
    if (a < 0 || b < 0)
      throw InputError(fmt::format("{}: no node \"{}\" in topology {}", f.where, a < 0 ? f.a : f.b, topology.name()));
    std::vector<int> links = topology.links_between(a, b);
    if (f.duplex) {
      const std::vector<int> back = topology.links_between(b, a);
      links.insert(links.end(), back.begin(), back.end());
    }
    if (links.empty())
      throw InputError(
          fmt::format("{}: no link between \"{}\" and \"{}\" in topology {}", f.where, f.a, f.b, topology.name()));
    for (int l : links) {
      if (f.kind == FaultKind::link_down)
        topology.set_link_up(l, false);
      else
        topology.scale_link_bandwidth(l, f.bandwidth_factor);
    }
    changed = true;
  }
  if (!changed) return;
  try {
    topology.finalize(topology.max_ecmp(), topology.routing());
  } catch (const Error& e) {
    throw InputError(fmt::format("faults leave the topology partitioned: {}", e.what()));
  }
}

std::vector<char> down_gpus(const std::vector<FaultSpec>& faults, int gpus) {
  std::vector<char> down(static_cast<std::size_t>(gpus), 0);
  for (const FaultSpec& f : faults) {
    if (f.kind != FaultKind::gpu_down) continue;
    if (f.gpu < 0 || f.gpu >= gpus)
      throw InputError(fmt::format("{}: gpu {} is outside the {} GPUs in use", f.where, f.gpu, gpus));
    down[static_cast<std::size_t>(f.gpu)] = 1;
  }
  if (std::count(down.begin(), down.end(), 1) == gpus) throw InputError("faults: every GPU is down");
  return down;
}

std::vector<double> compute_factors(const std::vector<FaultSpec>& faults, int gpus) {
  std::vector<double> factor(static_cast<std::size_t>(gpus), 1.0);
  for (const FaultSpec& f : faults) {
    if (f.kind != FaultKind::slow_gpu) continue;
    if (f.gpu < 0 || f.gpu >= gpus)
      throw InputError(fmt::format("{}: gpu {} is outside the {} GPUs in use", f.where, f.gpu, gpus));
    factor[static_cast<std::size_t>(f.gpu)] *= f.compute_factor;
  }
  return factor;
}

}  // namespace moesim
