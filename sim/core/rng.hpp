#pragma once
// Deterministic random numbers: xoshiro256** seeded by splitmix64, identical on every platform
// (std:: distributions are not portable, so we implement the few we need).
#include <cmath>
#include <cstdint>
#include <initializer_list>

namespace moesim {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    std::uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
  }

  std::uint64_t next_u64() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

  // Standard normal by Box-Muller (one of its pair); 1 - u keeps the log's argument in (0, 1].
  double normal() {
    const double u1 = 1 - uniform(), u2 = uniform();
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  }

  // Uniform integer in [0, n), n > 0 (Lemire's multiply-shift; bias is negligible for our n).
  std::uint32_t below(std::uint32_t n) {
    return static_cast<std::uint32_t>(((next_u64() >> 32) * static_cast<std::uint64_t>(n)) >> 32);
  }

  // Stream derived from (seed, a, b, c): independent streams for step/layer/GPU keep results
  // identical whatever order the work is done in.
  static Rng derived(std::uint64_t seed, std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0) {
    std::uint64_t x = seed ^ 0x9e3779b97f4a7c15ULL;
    std::uint64_t h = splitmix64(x);
    for (std::uint64_t v : {a, b, c}) {
      x = h ^ (v + 0x632be59bd9b4e019ULL);
      h = splitmix64(x);
    }
    return Rng(h);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t s_[4];
};

}  // namespace moesim
