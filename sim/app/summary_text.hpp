#pragma once
// The terminal summary of a run: throughput, latency percentiles, time by phase, hotspots.
#include <string>

#include "report/metrics.hpp"
#include "spec/scenario.hpp"

namespace moesim {

struct SummaryContext {
  const Scenario& scenario;
  const std::string& topology_name;
  const std::string& profile_provenance;  // "device (source)"
  const Results& results;
  const Summary& summary;
};

std::string summary_text(const SummaryContext& run);

}  // namespace moesim
