#pragma once
// A serving run's own files: per_request.csv (one row per request), serving_timeline.csv (queues
// and KV cache of each pool over time) and the `serving` object of summary.json.
#include <nlohmann/json_fwd.hpp>

#include <filesystem>

#include "report/serving_metrics.hpp"
#include "serve/serving_results.hpp"

namespace moesim::io {

void write_serving_files(const ServingResults& results, const ServingSummary& summary,
                         const std::filesystem::path& dir);
// summary.json's `serving` object after its registry metrics: counts, means, SLOs, the pools and
// how the step costs were obtained.
void add_serving_json(nlohmann::ordered_json& j, const ServingResults& results, const ServingSummary& summary);

}  // namespace moesim::io
