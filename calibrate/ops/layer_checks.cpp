// Helpers of the layer operations' checks (see layer_checks.hpp).
#include "ops/layer_checks.hpp"

#include <algorithm>

#include "reference/host_values.hpp"
#include "reference/reference.hpp"

namespace moesim::calib {

std::vector<int> spread(int size, int n) {
  std::vector<int> out;
  if (size <= 0) return out;
  if (size <= n) {
    for (int i = 0; i < size; ++i) out.push_back(i);
    return out;
  }
  for (int i = 0; i < n; ++i) out.push_back(static_cast<int>(static_cast<long long>(i) * (size - 1) / (n - 1)));
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::uint16_t> regenerate(std::uint64_t seed, std::size_t first, std::size_t n, int exp2) {
  std::vector<std::uint16_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = bf16_test_value(seed, first + i, exp2);
  return v;
}

std::vector<double> to_double(const std::vector<std::uint16_t>& bits) {
  std::vector<double> out(bits.size());
  for (std::size_t i = 0; i < bits.size(); ++i) out[i] = bf16_to_float(bits[i]);
  return out;
}

Verification verification_of(const CompareResult& r, const std::string& what) {
  return {r.checked, r.failed, r.describe(what)};
}

}  // namespace moesim::calib
