#pragma once
// Failure and degradation what-ifs: a link (or a NIC's link) down or at reduced bandwidth, with
// routes recomputed around it; a slow GPU whose kernels all take longer by a factor; a GPU down
// (it serves no tokens, and its experts fail over to their other replicas or move to the
// surviving GPUs hosting the fewest experts).
#include <string>
#include <vector>

#include "net/topology.hpp"

namespace moesim {

struct FaultSpec {
  std::string kind;             // link_down | link_degraded | slow_gpu | gpu_down
  std::string where;            // "file:line:col" of its [[faults]] entry, for error messages
  std::string a, b;             // link faults: node names (see `moesim topo show --dot`)
  bool duplex = true;           // link faults: both directions
  double bandwidth_factor = 1;  // link_degraded: (0, 1]
  int gpu = -1;                 // slow_gpu, gpu_down
  double compute_factor = 1;    // slow_gpu: >= 1
};

// Applies the link faults to `topology` and re-finalizes it; throws InputError (at the fault's
// place) for unknown nodes, no link between them, or a GPU left unreachable.
void apply_link_faults(Topology& topology, const std::vector<FaultSpec>& faults);
// Per-GPU compute time factors (1 = healthy); InputError for a GPU outside [0, gpus).
std::vector<double> compute_factors(const std::vector<FaultSpec>& faults, int gpus);
// Per-GPU down flags; InputError for a GPU outside [0, gpus) or when no GPU is left.
std::vector<char> down_gpus(const std::vector<FaultSpec>& faults, int gpus);

}  // namespace moesim
