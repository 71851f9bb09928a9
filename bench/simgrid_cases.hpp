#pragma once
// The flow sets of the SimGrid cross-check (bench/simgrid_check.cpp): skewed all-to-alls on a
// 72-GPU NVSwitch star (one wave, three overlapping waves), on a 9-node x 8-GPU HGX fabric with
// NICs, and one recorded decode step of scenarios/default.toml.
#include <string>
#include <vector>

#include "flow_replay.hpp"
#include "net/topology.hpp"

namespace moesim::bench {

struct FlowSet {
  std::string name;
  Topology topology;
  FlowRecord record;  // declarations and starts in time order (clears are not replayed)
};

// The names of the cases, in order; `quick` leaves out the recorded decode step.
std::vector<std::string> flow_set_names(bool quick);
// Builds one case; `source_dir` locates the default scenario.
FlowSet make_flow_set(const std::string& name, const std::string& source_dir);

}  // namespace moesim::bench
