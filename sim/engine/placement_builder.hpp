#pragma once
// Builds a scenario's expert placement: the one read from a file, or computed by a strategy from the
// routing observed over the first `placement.window_steps` steps of the scenario's own gate (as a
// deployment would use recent expert-load statistics; the run then replays those same steps).
#include <optional>
#include <string>
#include <vector>

#include "moe/gate.hpp"
#include "moe/placement.hpp"
#include "net/topology.hpp"
#include "spec/scenario.hpp"

namespace moesim {

// `before_step` = 0 for the initial placement, else the step a re-balance takes effect at (it then
// observes the window of steps before it). `given`: the from_file placement, read by io/ (required
// for that kind; Error without it). Appends to `notes` what was observed and decided.
Placement build_placement(const Scenario& scenario, Gate& gate, const Topology& topology, int gpus, int before_step,
                          const Placement* given, std::vector<std::string>& notes);

// For contiguous and round_robin: a warning when the routed experts do not divide evenly over the
// EP GPUs (some GPUs then hold one expert fewer a layer); std::nullopt when they do or for other kinds.
// build_placement adds it to the notes; the CLI also prints it on stderr.
std::optional<std::string> uneven_experts_note(const Scenario& scenario, int gpus);

}  // namespace moesim
