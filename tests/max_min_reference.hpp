#pragma once
// Textbook progressive filling for tests: quadratic, and independent of MaxMinSolver's
// bookkeeping, so that the solver and the flow model can be checked against it.
#include <algorithm>
#include <cstdint>
#include <vector>

namespace moesim::test {

inline std::vector<double> reference_max_min(const std::vector<double>& capacity,
                                             const std::vector<std::vector<std::int32_t>>& vars) {
  std::vector<double> rate(vars.size(), -1), left = capacity;
  for (;;) {
    double best = 1e300;
    int best_r = -1;
    for (std::size_t r = 0; r < capacity.size(); ++r) {
      int users = 0;
      for (std::size_t v = 0; v < vars.size(); ++v)
        if (rate[v] < 0 && std::count(vars[v].begin(), vars[v].end(), static_cast<std::int32_t>(r)) > 0) ++users;
      if (users > 0 && left[r] / users < best) best = left[r] / users, best_r = static_cast<int>(r);
    }
    if (best_r < 0) return rate;
    for (std::size_t v = 0; v < vars.size(); ++v)
      if (rate[v] < 0 && std::count(vars[v].begin(), vars[v].end(), best_r) > 0) {
        rate[v] = best;
        for (std::int32_t q : vars[v]) left[static_cast<std::size_t>(q)] -= best;
      }
  }
}

}  // namespace moesim::test
