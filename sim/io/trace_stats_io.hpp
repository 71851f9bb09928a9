#pragma once
// Trace statistics as terminal text and as JSON (the `moesim trace stats` output).
#include <string>

#include "report/trace_stats.hpp"

namespace moesim::io {

std::string trace_stats_text(const TraceStats& s);
std::string trace_stats_json(const TraceStats& s);  // pretty-printed, keys in a fixed order

}  // namespace moesim::io
