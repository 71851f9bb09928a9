#pragma once
// Writes a run's results: summary.json, per_step.csv, per_layer.csv, per_gpu.csv, per_link.csv,
// timeline.json (Chrome trace, opens in Perfetto) and the resolved scenario, into one directory.
#include <string>

#include "engine/results.hpp"
#include "gpu/profile.hpp"
#include "net/topology.hpp"
#include "report/metrics.hpp"
#include "spec/scenario.hpp"

namespace moesim::io {

struct RunContext {  // what the writers need to say where the numbers came from
  const Scenario& scenario;
  const Topology& topology;
  const Profile& profile;
  const Results& results;
  const Summary& summary;
};

// Creates `dir` if needed; throws Error when a file cannot be written.
void write_results(const RunContext& run, const std::string& dir);
std::string summary_json(const RunContext& run);  // the contents of summary.json
std::string timeline_json(const Results& results);

}  // namespace moesim::io
