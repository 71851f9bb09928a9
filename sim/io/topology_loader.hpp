#pragma once
// Reads a topology TOML file (generator form or explicit node/link lists, see topologies/README.md)
// into a finalized Topology; every bad input is an InputError naming file:line:col.
#include <toml++/toml.h>

#include <string>

#include "net/topology.hpp"

namespace moesim::io {

// Routes are stored for every GPU pair (16 racks of 72 GPUs: ~1 GB, ~6 s), so the GPU count is
// capped to keep memory and start-up time bounded.
inline constexpr int kMaxTopologyGpus = 1152;

Topology load_topology(const std::string& path);
// `file` names the source in error messages (and gives the default name: its stem).
Topology load_topology_table(const toml::table& t, const std::string& file);

}  // namespace moesim::io
