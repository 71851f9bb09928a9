#pragma once
// What the harness found for one operation: its check against the CPU reference (values compared,
// how many were wrong) and, only when nothing was wrong, its timing, with the nccl-tests
// bandwidth definitions (algbw = bytes / time, busbw = algbw * the operation's bus factor).
// Plain C++ (no CUDA), so the table printer is tested on any machine.
#include <cstdint>
#include <string>

#include "bench/stats.hpp"

namespace moesim::calib {

struct Verification {
  std::int64_t checked = 0;  // values (or structural facts) compared with the reference
  std::int64_t wrong = 0;    // of those, outside tolerance
  std::string detail;        // one line: what was checked, or the first wrong value
  bool ok() const { return wrong == 0 && checked > 0; }
};

// Adds b's counts to a; the details are joined with "; ".
void merge_verification(Verification& a, const Verification& b);

struct OpResult {
  std::string name;
  double bytes = 0;         // per run (Operation::bytes)
  double flops = 0;         // per run (Operation::flops)
  double busbw_factor = 0;  // 0: no shared bus (a single-GPU operation)
  Verification verification;
  bool timed = false;  // false when the check found a wrong value (or checked nothing)
  TimingStats time;
  double algbw_GBps() const { return timed ? bandwidth_GBps(bytes, time.median_us) : 0; }
  double busbw_GBps() const { return algbw_GBps() * busbw_factor; }
  double TFLOPs() const { return timed ? rate_TFLOPs(flops, time.median_us) : 0; }
};

}  // namespace moesim::calib
