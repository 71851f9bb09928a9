#pragma once
// Human-readable topology summary for `moesim topo show`; figures come from Topology::summarize().
#include <string>

#include "net/topology.hpp"

namespace moesim {

// Multi-line text, one figure per line with its unit; ends with a newline.
std::string topology_summary_text(const TopologySummary& s);

}  // namespace moesim
