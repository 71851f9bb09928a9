#pragma once
// Helpers of the layer operations' checks: which rows to sample, the layer's generated inputs
// regenerated on the host, and a reference comparison as a Verification. Large phases are checked
// on samples (rows spread over tokens and experts, corners included) so a check never costs more
// than a few seconds of CPU.
#include <cstdint>
#include <string>
#include <vector>

#include "bench/result.hpp"
#include "reference/checks.hpp"

namespace moesim::calib {

// Up to `n` indices in [0, size): first, last, and evenly spread between.
std::vector<int> spread(int size, int n);
// Elements [first, first + n) of the bf16 test tensor `seed` at scale 2^exp2 (host_values.hpp).
std::vector<std::uint16_t> regenerate(std::uint64_t seed, std::size_t first, std::size_t n, int exp2);
std::vector<double> to_double(const std::vector<std::uint16_t>& bf16_bits);
// Values compared, values outside tolerance, and r.describe(what).
Verification verification_of(const CompareResult& r, const std::string& what);

}  // namespace moesim::calib
