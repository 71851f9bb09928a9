#pragma once
// What a scenario says of a failure or degradation what-if (applied by engine/faults).
#include <string>

#include "spec/settings.hpp"

namespace moesim {

struct FaultSpec {
  FaultKind kind = FaultKind::link_down;
  std::string where;            // "file:line:col" of its [[faults]] entry, for error messages
  std::string a, b;             // link faults: node names (`moesim topo show` lists them)
  bool duplex = true;           // link faults: both directions
  double bandwidth_factor = 1;  // link_degraded: (0, 1]
  int gpu = -1;                 // slow_gpu, gpu_down
  double compute_factor = 1;    // slow_gpu: >= 1
};

}  // namespace moesim
