#pragma once
// The summary metrics, defined once: name (the key in summary.json and the column in sweep.csv and
// compare.csv), unit, meaning, how to read it from a Summary and how files print it.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "report/metrics.hpp"

namespace moesim::io {

using MetricValue = std::variant<std::int64_t, double, std::string>;

struct Metric {
  std::string_view name;
  std::string_view unit;
  std::string_view description;  // one line
  std::string_view format;       // fmt format of its CSV columns, e.g. "{:.4f}"
  // The summary.json object that holds it ("latency", "hotspots", ...); empty: not written there
  // as a metric (gpus is the topology's gpus_used; balancedness is derived for compare).
  std::string_view json_object;
  MetricValue (*read)(const Summary&);
};

// Every metric, in the order summary.json and the CSV files list them.
std::span<const Metric> metrics();
// The metric called `name`; throws std::logic_error for an unknown one (a misspelt name in code).
const Metric& metric(std::string_view name);

// Its value in `format` (empty: the metric's own).
std::string format_metric(const Metric& m, const Summary& s, std::string_view format = {});
// Its value as a number, for tables that scale it; throws std::logic_error for a text metric.
double metric_number(const Metric& m, const Summary& s);

}  // namespace moesim::io
