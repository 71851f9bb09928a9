#pragma once
// A serving run's own files: per_request.csv (one row per request), serving_timeline.csv (queues
// and KV cache of each pool over time) and the `serving` object of summary.json.
#include <filesystem>
#include <string>

#include "report/serving_metrics.hpp"
#include "serve/serving_results.hpp"

namespace moesim::io {

void write_serving_files(const ServingResults& results, const ServingSummary& summary,
                         const std::filesystem::path& dir);
// summary.json's `serving` object (JSON text), its figures and how the step costs were obtained.
std::string serving_json(const ServingResults& results, const ServingSummary& summary);

}  // namespace moesim::io
