#pragma once
// The terminal summary of a run: throughput, latency percentiles, time by phase, hotspots.
#include <string>

#include "report/metrics.hpp"
#include "serve/serving_results.hpp"
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
// A serving run's request-level figures, printed before the step figures.
std::string serving_text(const Scenario& scenario, const ServingResults& results, const ServingSummary& summary);

}  // namespace moesim
