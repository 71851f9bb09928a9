#pragma once
// Reads a topology TOML file (generator form or explicit node/link lists, see topologies/README.md)
// into a finalized Topology; every bad input is an InputError naming file:line:col.
#include <toml++/toml.h>

#include <string>

#include "net/topology.hpp"

namespace moesim::io {

// D-mod-k routing keeps per-destination costs only (GPUs x nodes); ECMP stores every GPU pair's
// routes (16 racks of 72 GPUs: ~1 GB, ~6 s), so it is capped lower to bound memory and start-up.
inline constexpr int kMaxTopologyGpus = 4096;
inline constexpr int kMaxEcmpTopologyGpus = 1152;

Topology load_topology(const std::string& path);
// `file` names the source in error messages (and gives the default name: its stem).
Topology load_topology_table(const toml::table& t, const std::string& file);

}  // namespace moesim::io
