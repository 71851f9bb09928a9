// Swept keys and their run numbering (see sweep_axes.hpp).
#include "cli/sweep_axes.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <sstream>

#include "core/error.hpp"

namespace moesim::cli {

namespace {
constexpr std::size_t kMaxRuns = 10'000'000;  // a typo'd range, not a sweep anyone means to run
}  // namespace

// Appends one key=v1,v2,... to keys_ and values_.
void SweepAxes::add(const std::string& spec, const char* option) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(fmt::format("{} '{}': expected key=v1[,v2,...]", option, spec));
  const std::string key = spec.substr(0, eq);
  if (std::find(keys_.begin(), keys_.end(), key) != keys_.end())
    throw InputError(fmt::format("{} {}: key given twice", option, key));
  // Values are split on every comma, so a TOML array or a string with a comma cannot be swept.
  std::vector<std::string> values;
  std::stringstream rest(spec.substr(eq + 1));
  std::string value;
  while (std::getline(rest, value, ',')) values.push_back(value);
  if (spec.back() == ',' || values.empty()) values.push_back("");
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i].find_first_not_of(" \t") == std::string::npos)
      throw InputError(fmt::format("{} {}: value {} is empty", option, key, i + 1));
  keys_.push_back(key);
  values_.push_back(std::move(values));
}

SweepAxes::SweepAxes(const std::vector<std::string>& vary, const std::vector<std::vector<std::string>>& zips) {
  for (const std::string& v : vary) {
    add(v, "--vary");
    axes_.push_back({keys_.size() - 1, 1, values_.back().size()});
  }
  for (const std::vector<std::string>& zip : zips) {
    if (zip.empty()) throw InputError("--zip: expected key=v1,v2,... [key=v1,v2,...]");
    const std::size_t first = keys_.size();
    for (const std::string& z : zip) {
      add(z, "--zip");
      if (values_.back().size() != values_[first].size())
        throw InputError(fmt::format(
            "--zip: {} has {} values but {} has {}; the keys of one --zip take their values together, so they "
            "need as many each",
            keys_[first], values_[first].size(), keys_.back(), values_.back().size()));
    }
    axes_.push_back({first, zip.size(), values_[first].size()});
  }
  if (axes_.empty()) throw InputError("sweep: nothing to vary: give --vary key=v1,v2,... or --zip");
  for (const Axis& a : axes_) {
    if (runs_ > kMaxRuns / a.size) throw InputError(fmt::format("--vary/--zip: more than {} runs", kMaxRuns));
    runs_ *= a.size;
  }
}

std::vector<std::string> SweepAxes::values(std::size_t id) const {
  std::vector<std::string> v(keys_.size());
  for (std::size_t a = axes_.size(); a-- > 0;) {
    const Axis& axis = axes_[a];
    for (std::size_t k = axis.first; k < axis.first + axis.count; ++k) v[k] = values_[k][id % axis.size];
    id /= axis.size;
  }
  return v;
}

}  // namespace moesim::cli
