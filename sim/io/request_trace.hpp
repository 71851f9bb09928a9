#pragma once
// Importers of public LLM request traces (Azure, BurstGPT, Mooncake) into serving requests.
// Formats, sources and the shipped examples: scenarios/requests/README.md.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "serve/request.hpp"
#include "spec/serving_spec.hpp"

namespace moesim::io {

inline constexpr int kMaxRequestTokens = 1 << 22;                  // prompt and output tokens per request
inline constexpr std::uint64_t kMaxRequestTraceRows = 10'000'000;  // data rows (skipped ones included)

struct RequestTrace {
  std::vector<Request> requests;
  std::vector<std::string> notes;  // what was skipped or ignored, for the user to see
};

// Arrivals relative to the earliest request (which arrives at 0), divided by time_scale (> 0);
// requests sorted by arrival (stable), ids 0.. in that order. Header columns are found by name
// (any order, extra columns ignored; for CSV the header must be the first line). Blank lines are
// skipped. Bad input is an InputError "name:line: what".
RequestTrace parse_request_trace(std::string_view text, const std::string& name, RequestTraceFormat format,
                                 double time_scale = 1);
RequestTrace load_request_trace(const std::string& path, RequestTraceFormat format, double time_scale = 1);

}  // namespace moesim::io
