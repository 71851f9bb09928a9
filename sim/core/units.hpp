#pragma once
// Units used inside the simulator: time is integer picoseconds, sizes are Bytes, rates Bandwidth.
#include <cmath>
#include <compare>
#include <cstdint>
#include <type_traits>

namespace moesim {

using TimePs = std::int64_t;  // picoseconds since the start of the simulation

// A count of bytes (a double: per-step means and efficiency-scaled sizes are fractional). Every
// operation is the one double operation it names, so typed code computes the same values.
class Bytes {
 public:
  constexpr Bytes() = default;
  constexpr explicit Bytes(double count) : count_(count) {}
  constexpr double count() const { return count_; }
  constexpr double GB() const { return count_ / 1e9; }  // 1 GB = 1e9 bytes

  constexpr Bytes& operator+=(Bytes b) {
    count_ += b.count_;
    return *this;
  }
  constexpr Bytes& operator-=(Bytes b) {
    count_ -= b.count_;
    return *this;
  }
  constexpr Bytes& operator*=(double k) {
    count_ *= k;
    return *this;
  }
  constexpr Bytes& operator/=(double k) {
    count_ /= k;
    return *this;
  }
  friend constexpr Bytes operator+(Bytes a, Bytes b) { return Bytes(a.count_ + b.count_); }
  friend constexpr Bytes operator-(Bytes a, Bytes b) { return Bytes(a.count_ - b.count_); }
  friend constexpr Bytes operator*(Bytes a, double k) { return Bytes(a.count_ * k); }
  friend constexpr Bytes operator*(double k, Bytes a) { return Bytes(k * a.count_); }
  friend constexpr Bytes operator/(Bytes a, double k) { return Bytes(a.count_ / k); }
  friend constexpr double operator/(Bytes a, Bytes b) { return a.count_ / b.count_; }
  friend constexpr bool operator==(Bytes, Bytes) = default;
  friend constexpr auto operator<=>(Bytes, Bytes) = default;

 private:
  double count_ = 0;
};

// A data rate, held in GB/s (1e9 B/s): every input and output is in GB/s, so keeping that unit
// inside keeps their values exact (a round trip through B/s would not).
class Bandwidth {
 public:
  constexpr Bandwidth() = default;
  static constexpr Bandwidth from_GBps(double GBps) { return Bandwidth(GBps); }
  constexpr double GBps() const { return GBps_; }
  // 1 GB/s moves 1e9 B per 1e12 ps, i.e. 1e-3 B/ps.
  constexpr double bytes_per_ps() const { return GBps_ * 1e-3; }

  constexpr Bandwidth& operator+=(Bandwidth b) {
    GBps_ += b.GBps_;
    return *this;
  }
  constexpr Bandwidth& operator*=(double k) {
    GBps_ *= k;
    return *this;
  }
  friend constexpr Bandwidth operator+(Bandwidth a, Bandwidth b) { return Bandwidth(a.GBps_ + b.GBps_); }
  friend constexpr Bandwidth operator*(Bandwidth a, double k) { return Bandwidth(a.GBps_ * k); }
  friend constexpr Bandwidth operator*(double k, Bandwidth a) { return Bandwidth(k * a.GBps_); }
  friend constexpr Bandwidth operator/(Bandwidth a, double k) { return Bandwidth(a.GBps_ / k); }
  friend constexpr double operator/(Bandwidth a, Bandwidth b) { return a.GBps_ / b.GBps_; }
  friend constexpr bool operator==(Bandwidth, Bandwidth) = default;
  friend constexpr auto operator<=>(Bandwidth, Bandwidth) = default;

 private:
  constexpr explicit Bandwidth(double GBps) : GBps_(GBps) {}
  double GBps_ = 0;
};

// Zero overhead: a double in a class, passed and stored like the double.
static_assert(std::is_trivially_copyable_v<Bytes> && sizeof(Bytes) == sizeof(double));
static_assert(std::is_trivially_copyable_v<Bandwidth> && sizeof(Bandwidth) == sizeof(double));

inline constexpr TimePs kPsPerNs = 1000;
inline constexpr TimePs kPsPerUs = 1000 * kPsPerNs;
inline constexpr TimePs kPsPerMs = 1000 * kPsPerUs;

// The simulated time the engine represents: 2^61 ps (about 26.7 days). Conversions saturate at it
// (so does NaN), every clock value and duration stays at or below it, and the sum of two therefore
// never overflows; the event queue refuses an event at or past it (TimeLimitError), so a run that
// would pass it stops with an error instead of wrapping around.
inline constexpr TimePs kTimeLimitPs = TimePs{1} << 61;
inline constexpr double kTimeLimitPsD = static_cast<double>(kTimeLimitPs);

// `ps` rounded to the nearest picosecond (half away from zero), saturated to +-kTimeLimitPs.
inline TimePs round_ps(double ps) {
  if (!(ps < kTimeLimitPsD)) [[unlikely]]
    return kTimeLimitPs;
  if (!(ps > -kTimeLimitPsD)) [[unlikely]]
    return -kTimeLimitPs;
  return static_cast<TimePs>(std::llround(ps));
}
inline TimePs ps_from_ns(double ns) { return round_ps(ns * 1e3); }
inline TimePs ps_from_us(double us) { return round_ps(us * 1e6); }
inline double ns_from_ps(TimePs t) { return static_cast<double>(t) * 1e-3; }
inline double us_from_ps(TimePs t) { return static_cast<double>(t) * 1e-6; }
inline double ms_from_ps(TimePs t) { return static_cast<double>(t) * 1e-9; }

// std::ceil(ps) saturated to +-kTimeLimitPs, inline: the baseline x86-64 target has no rounding
// instruction, so std::ceil is a library call, and these sit on hot paths.
constexpr TimePs ceil_ps(double ps) {
  if (!(ps < kTimeLimitPsD)) [[unlikely]]
    return kTimeLimitPs;
  if (!(ps > -kTimeLimitPsD)) [[unlikely]]
    return -kTimeLimitPs;
  const auto t = static_cast<TimePs>(ps);  // toward zero: ceil already for ps <= 0
  return t + static_cast<TimePs>(static_cast<double>(t) < ps);
}

// Time to move `bytes` at `bandwidth`, rounded up to whole picoseconds (bytes x 1e3 / GB/s: the
// operations of the untyped formula, so times do not move by a rounding).
constexpr TimePs transfer_ps(Bytes bytes, Bandwidth bandwidth) {
  return ceil_ps(bytes.count() * 1e3 / bandwidth.GBps());
}
// Bytes that `bandwidth` moves in `t`.
constexpr Bytes transfer_bytes(Bandwidth bandwidth, TimePs t) {
  return Bytes(bandwidth.bytes_per_ps() * static_cast<double>(t));
}

// Time to do `flops` at `rate_TFLOPs` (1e12 FLOP/s = 1 FLOP/ps), rounded up.
inline TimePs compute_ps(double flops, double rate_TFLOPs) { return ceil_ps(flops / rate_TFLOPs); }

}  // namespace moesim
