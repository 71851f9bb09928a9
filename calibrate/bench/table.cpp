// The table printer (see table.hpp).
#include "bench/table.hpp"

#include <fmt/format.h>

#include "core/error.hpp"

namespace moesim::calib {

ResultTable::ResultTable(std::vector<Column> labels, ResultColumns shown)
    : columns_(std::move(labels)), labels_(columns_.size()), shown_(shown) {
  columns_.push_back({"median", "us", 10});
  columns_.push_back({"p10", "us", 10});
  columns_.push_back({"p90", "us", 10});
  columns_.push_back({"algbw", "GB/s", 9});
  if (shown_.busbw) columns_.push_back({"busbw", "GB/s", 9});
  if (shown_.of_copy) columns_.push_back({"copy", "%", 5});
  if (shown_.tflops) columns_.push_back({"rate", "TFLOP/s", 9});
  columns_.push_back({"#wrong", "", 7});
  for (const Column& c : columns_)
    if (c.name.empty() || c.width < 1) throw Error("ResultTable: every column needs a name and a width >= 1");
}

std::string ResultTable::line(const std::string& lead, const std::vector<std::string>& cells) const {
  std::string out = lead;
  for (std::size_t i = 0; i < columns_.size(); ++i) {
    if (i > 0) out += ' ';
    const Column& c = columns_[i];
    out += c.left ? fmt::format("{:<{}}", cells[i], c.width) : fmt::format("{:>{}}", cells[i], c.width);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out + "\n";
}

std::string ResultTable::header() const {
  std::vector<std::string> names, units;
  for (const Column& c : columns_) {
    names.push_back(c.name);
    units.push_back(c.unit.empty() ? "" : "(" + c.unit + ")");
  }
  return line("# ", names) + line("# ", units);
}

std::string ResultTable::row(const std::vector<std::string>& labels, const OpResult& r, double copy_GBps) const {
  if (labels.size() != labels_)
    throw Error(fmt::format("ResultTable::row: {} label cells for {} label columns", labels.size(), labels_));
  std::vector<std::string> cells = labels;
  const auto number = [&](double v, int digits) { return r.timed ? fmt::format("{:.{}f}", v, digits) : "-"; };
  cells.push_back(number(r.time.median_us, 2));
  cells.push_back(number(r.time.p10_us, 2));
  cells.push_back(number(r.time.p90_us, 2));
  cells.push_back(number(r.algbw_GBps(), 2));
  if (shown_.busbw) cells.push_back(r.busbw_factor > 0 ? number(r.busbw_GBps(), 2) : "");
  if (shown_.of_copy) cells.push_back(copy_GBps > 0 ? number(100 * r.algbw_GBps() / copy_GBps, 0) : "");
  if (shown_.tflops) cells.push_back(r.flops > 0 ? number(r.TFLOPs(), 1) : "");
  cells.push_back(std::to_string(r.verification.wrong));
  return line("  ", cells);
}

}  // namespace moesim::calib
