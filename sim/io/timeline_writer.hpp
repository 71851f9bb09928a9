#pragma once
// timeline.json: the recorded spans as a Chrome trace (opens in Perfetto). A process per GPU;
// thread 0 is its compute stream, threads 1.. its network lanes; flow arrows lead from each
// dispatch that delivered a GPU's last awaited tokens to that GPU's expert kernel.
#include <string>

#include "engine/results.hpp"

namespace moesim::io {

// Complete ("X") events on one thread never overlap: the compute stream runs one kernel at a
// time, and a GPU's concurrent dispatches and combines (of different layers or micro-batches)
// take the lowest-numbered network lane free at their start.
std::string timeline_json(const Results& results);

}  // namespace moesim::io
