#pragma once
// Units used inside the simulator: time is integer picoseconds, sizes are bytes, bandwidth GB/s (1e9 B/s).
#include <cmath>
#include <cstdint>

namespace moesim {

using TimePs = std::int64_t;  // picoseconds since the start of the simulation
using Bytes = std::int64_t;

inline constexpr TimePs kPsPerNs = 1000;
inline constexpr TimePs kPsPerUs = 1000 * kPsPerNs;
inline constexpr TimePs kPsPerMs = 1000 * kPsPerUs;

inline TimePs ps_from_ns(double ns) { return static_cast<TimePs>(std::llround(ns * 1e3)); }
inline TimePs ps_from_us(double us) { return static_cast<TimePs>(std::llround(us * 1e6)); }
inline double ns_from_ps(TimePs t) { return static_cast<double>(t) * 1e-3; }
inline double us_from_ps(TimePs t) { return static_cast<double>(t) * 1e-6; }
inline double ms_from_ps(TimePs t) { return static_cast<double>(t) * 1e-9; }

// 1 GB/s moves 1e9 B per 1e12 ps, i.e. 1e-3 B/ps.
inline double bytes_per_ps(double bandwidth_GBps) { return bandwidth_GBps * 1e-3; }

// static_cast<TimePs>(std::ceil(ps)) for |ps| < 2^63, inline: the baseline x86-64 target has no
// rounding instruction, so std::ceil is a library call, and these sit on hot paths.
inline TimePs ceil_ps(double ps) {
  const auto t = static_cast<TimePs>(ps);  // toward zero: ceil already for ps <= 0
  return t + static_cast<TimePs>(static_cast<double>(t) < ps);
}

// Time to move `bytes` at `bandwidth_GBps`, rounded up to whole picoseconds.
inline TimePs transfer_ps(double bytes, double bandwidth_GBps) { return ceil_ps(bytes * 1e3 / bandwidth_GBps); }

// Time to do `flops` at `rate_TFLOPs` (1e12 FLOP/s = 1 FLOP/ps), rounded up.
inline TimePs compute_ps(double flops, double rate_TFLOPs) {
  return ceil_ps(flops / rate_TFLOPs);
}

}  // namespace moesim
