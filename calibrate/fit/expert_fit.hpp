#pragma once
// Fits the expert FFN's kernel tables: the fixed cost of one grouped GEMM call and per-expert
// curves by load, one per number of experts in the call. Assumption: only even-load rows (the
// smallest skew measured) say what one expert costs at a given load. Also the table helpers the
// other kernel fits share.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fit/measurements.hpp"
#include "gpu/profile.hpp"

namespace moesim::fit {

double median(std::vector<double> v);
std::string join_numbers(const std::set<double>& items);

// Median y per distinct x (x ascending), made non-decreasing; notes which points were pooled.
LogTable monotone_table(const std::vector<std::pair<double, double>>& points, const std::string& what,
                        const char* x_unit, std::vector<std::string>& notes);

struct ExpertFit {
  // "expert_us" (all the model's experts), "expert_e<N>_us"; for fp8 rows "expert_fp8_us",
  // "expert_fp8_e<N>_us".
  std::map<std::string, LogTable> tables;
  double weight_bytes = 0;  // precision of the rows fitted
  double fixed_us = 0;      // kernels.expert_fixed_us (expert_fp8_fixed_us)
  std::set<double> skews;   // skews of the rows fitted
};

// The model's expert rows (calibrate/MEASUREMENTS.md); no tables (noted) when it has none.
// `fp8`: the rows at weight_bytes 1 (fp8 with block scales) into the expert_fp8 set; otherwise
// the rows at any other precision into the expert set.
ExpertFit fit_expert_tables(const Measurements& m, const std::string& model, bool fp8, std::vector<std::string>& notes);


}  // namespace moesim::fit
