#pragma once
// Placement files (from_file placements): TOML or CSV by extension, one replica list (GPU ids)
// per expert and MoE layer, with a default applying to layers not listed.
//
// TOML:
//   gpus = 8                       # optional; when present it must match the run's GPU count
//   [[layer]]
//   default = true                 # applies to every layer not listed by index
//   experts = [[0], [1, 5], ...]   # one list per expert: its GPUs (replicas), in order
//   [[layer]]
//   index = 3
//   experts = [...]
// CSV: rows `layer,expert,gpu` (optional header line `layer,expert,gpu`, '#' comments); several
// rows for one expert are its replicas in row order; layer `*` is the default. A layer with rows of
// its own takes none from `*`.
#include <string>

#include "moe/placement.hpp"

namespace moesim::io {

// Reads a .toml or .csv placement for the given counts; any problem (unknown key, expert missing,
// GPU out of range, replica listed twice, wrong expert count, layer missing) throws InputError
// naming the file and the line.
Placement load_placement(const std::string& path, int moe_layers, int experts, int gpus);

// Text that load_placement reads back to the same Placement (identical layers become the default).
std::string placement_to_toml(const Placement& p);
std::string placement_to_csv(const Placement& p);

}  // namespace moesim::io
