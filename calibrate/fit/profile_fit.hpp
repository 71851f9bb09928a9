#pragma once
// Fits a device Profile from raw measurements: roofline efficiencies from the device ceilings,
// monotone log-space kernel tables, NVLink efficiency from NCCL all-to-all. Whatever was not
// measured is kept from a base profile, with that section's source and citation.
#include <string>
#include <vector>

#include "fit/measurements.hpp"
#include "gpu/profile.hpp"

namespace moesim::fit {

struct FitOptions {
  std::string model;       // model whose kernel tables to fit ("" = the only one measured);
                           // gate rows of both gate kinds: sigmoid_group_topk for
                           // deepseek-v3, softmax_topk for any other model
  double nvlink_GBps = 0;  // one GPU's NVLink bandwidth per direction, for all-to-all
                           // efficiency (0 = leave comm.nvlink from the base profile)
};

struct FitReport {
  Profile profile;
  std::vector<std::string> notes;  // what was fitted, what was kept, anything dropped and why
};

// Semantics in calibrate/MEASUREMENTS.md ("What moesim-fit makes of them"). Noisy points are not
// errors (a decreasing point is pooled, an efficiency above 1 clamped, each with a note); a model
// asked for that has no kernel rows, or several measured models and none chosen, throw InputError.
FitReport fit_profile(const Measurements& m, const Profile& base, const FitOptions& options);

// Pool-adjacent-violators: the non-decreasing sequence closest (least squares) to `y`.
std::vector<double> monotone_non_decreasing(const std::vector<double>& y);

}  // namespace moesim::fit
