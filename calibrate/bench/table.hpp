#pragma once
// The calibrator's one table printer, nccl-tests style: a row of column names, a row of units,
// then one row per measured configuration. Label columns name the configuration (tokens, kernel,
// size, ...); the result columns are the same in every table: time (median, p10, p90), algbw,
// busbw where a bus is shared, the fraction of the copy ceiling and TFLOP/s where asked, and
// #wrong (values that differed from the CPU reference; such a row was not timed: "-" times).
#include <string>
#include <vector>

#include "bench/result.hpp"

namespace moesim::calib {

struct Column {
  std::string name;
  std::string unit;  // shown as "(unit)" in the units row; "" = blank
  int width = 10;
  bool left = false;  // left-aligned (text labels); numbers are right-aligned
};

// The optional result columns of a table.
struct ResultColumns {
  bool busbw = false;    // collectives: busbw = algbw * the operation's bus factor
  bool of_copy = false;  // "copy (%)": algbw as a percentage of the copy ceiling
  bool tflops = false;   // TFLOP/s from the operation's FLOPs
};

class ResultTable {
 public:
  // Throws Error when a column has no name or a width below 1.
  ResultTable(std::vector<Column> labels, ResultColumns shown);
  // Two lines starting with "#": the column names, then their units.
  std::string header() const;
  // One line; one cell per label column (throws Error otherwise). `copy_GBps` > 0 fills the copy
  // column (give it for memory-bound operations only); TFLOP/s stays blank without FLOPs.
  std::string row(const std::vector<std::string>& labels, const OpResult& r, double copy_GBps = 0) const;
  const std::vector<Column>& columns() const { return columns_; }

 private:
  std::string line(const std::string& lead, const std::vector<std::string>& cells) const;
  std::vector<Column> columns_;
  std::size_t labels_ = 0;
  ResultColumns shown_;
};

}  // namespace moesim::calib
