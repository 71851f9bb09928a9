#pragma once
// Failure and degradation what-ifs: a link (or a NIC's link) down or at reduced bandwidth, with
// routes recomputed around it; a slow GPU whose kernels all take longer by a factor; a GPU down
// (it serves no tokens, and its experts fail over to their other replicas or move to the
// surviving GPUs hosting the fewest experts).
#include <string>
#include <vector>

#include "net/topology.hpp"
#include "spec/fault_spec.hpp"

namespace moesim {

// Applies the link faults to `topology` and re-finalizes it; throws InputError (at the fault's
// place) for unknown nodes, no link between them, or a GPU left unreachable.
void apply_link_faults(Topology& topology, const std::vector<FaultSpec>& faults);
// Per-GPU compute time factors (1 = healthy); InputError for a GPU outside [0, gpus).
std::vector<double> compute_factors(const std::vector<FaultSpec>& faults, int gpus);
// Per-GPU down flags; InputError for a GPU outside [0, gpus) or when no GPU is left.
std::vector<char> down_gpus(const std::vector<FaultSpec>& faults, int gpus);

}  // namespace moesim
