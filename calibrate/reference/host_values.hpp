#pragma once
// Deterministic test values shared by host and device code: a counter-based hash turned into
// numbers that bf16 / fp8 e4m3 represent exactly, so a CPU reference can regenerate any input the
// GPU used, bit for bit, with no float rounding step on either side (assumption: both compilers
// implement 64-bit unsigned arithmetic identically, which C++ guarantees).
#include <cstdint>

#if defined(__CUDACC__)
#define MOESIM_HD __host__ __device__
#else
#define MOESIM_HD
#endif

namespace moesim::calib {

// splitmix64 finaliser.
MOESIM_HD inline std::uint64_t mix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A well-mixed 64-bit value for element `index` of the tensor identified by `seed`.
MOESIM_HD inline std::uint64_t value_hash(std::uint64_t seed, std::uint64_t index) {
  return mix64((seed * 0xD1B54A32D192ED03ull) ^ mix64(index));
}

// bf16 bit pattern of n * 2^exp2, exact for |n| <= 127 (at most 7 significant bits) as long as
// the exponent stays in the normal range (callers use |exp2| < 100).
MOESIM_HD inline std::uint16_t bf16_bits_of(int n, int exp2) {
  if (n == 0) return 0;
  const unsigned sign = n < 0 ? 0x8000u : 0u;
  const unsigned a = static_cast<unsigned>(n < 0 ? -n : n);
  int p = 0;  // position of the leading one
  while ((a >> (p + 1)) != 0u) ++p;
  const unsigned mant = (a << (7 - p)) & 0x7Fu;
  const unsigned exp_field = static_cast<unsigned>(p + exp2 + 127);
  return static_cast<std::uint16_t>(sign | (exp_field << 7) | mant);
}

// A test value n * 2^exp2 with n uniform in [-64, 63] (7 bits of the hash).
MOESIM_HD inline std::uint16_t bf16_test_value(std::uint64_t seed, std::uint64_t index, int exp2) {
  const int n = static_cast<int>(value_hash(seed, index) >> 57) - 64;
  return bf16_bits_of(n, exp2);
}

// fp8 e4m3 (bias 7, no infinities, 0x7F / 0xFF are NaN) bit pattern of n * 2^exp2, exact for
// |n| <= 15; callers keep the exponent field in [1, 14].
MOESIM_HD inline std::uint8_t fp8_e4m3_bits_of(int n, int exp2) {
  if (n == 0) return 0;
  const unsigned sign = n < 0 ? 0x80u : 0u;
  const unsigned a = static_cast<unsigned>(n < 0 ? -n : n);
  int p = 0;
  while ((a >> (p + 1)) != 0u) ++p;
  const unsigned mant = (a << (3 - p)) & 0x7u;
  const unsigned exp_field = static_cast<unsigned>(p + exp2 + 7);
  return static_cast<std::uint8_t>(sign | (exp_field << 3) | mant);
}

// A test value n / 8 with n uniform in [-8, 7] (4 bits of the hash): exponent fields 4..7.
MOESIM_HD inline std::uint8_t fp8_test_value(std::uint64_t seed, std::uint64_t index) {
  const int n = static_cast<int>(value_hash(seed, index) >> 60) - 8;
  return fp8_e4m3_bits_of(n, -3);
}

// A 32-bit word for copy and all-to-all payloads.
MOESIM_HD inline std::uint32_t word_test_value(std::uint64_t seed, std::uint64_t index) {
  return static_cast<std::uint32_t>(value_hash(seed, index) >> 32);
}

// Seed of the all-to-all payload that rank `from` sends to rank `to`.
MOESIM_HD inline std::uint64_t alltoall_seed(int from, int to) {
  return 0xA11A11ull * 1000003ull + static_cast<std::uint64_t>(from) * 65536u + static_cast<std::uint64_t>(to);
}

// Power-of-two scale exponent for a weight matrix with fan-in `k` and inputs of magnitude ~1:
// keeps a dot product of k terms of order 1 (2^-round(log2(sqrt(k)))).
inline int fan_in_exp2(int k) {
  int e = 0;
  while ((1ll << (2 * (e + 1))) <= static_cast<long long>(k)) ++e;  // 4^(e+1) <= k
  return -e;
}

}  // namespace moesim::calib
