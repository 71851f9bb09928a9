// Verification bookkeeping (see result.hpp).
#include "bench/result.hpp"

namespace moesim::calib {

void merge_verification(Verification& a, const Verification& b) {
  a.checked += b.checked;
  a.wrong += b.wrong;
  if (!b.detail.empty()) a.detail += (a.detail.empty() ? "" : "; ") + b.detail;
}

}  // namespace moesim::calib
