#pragma once
// The runs of a sweep: each --vary key is one axis; the keys of one --zip take their values
// together (value i of every key in run i of that axis) and count as one axis. Axes combine
// cartesianly, --vary axes first, then --zip groups, in the order given; the last varies fastest.
#include <cstddef>
#include <string>
#include <vector>

namespace moesim::cli {

class SweepAxes {
 public:
  // `vary`: "key=v1,v2,..." each; `zips`: one list of "key=v1,v2,..." per --zip. Throws
  // InputError for bad syntax, a key given twice, zipped keys with different value counts, or a
  // product of more than 10 million runs.
  SweepAxes(const std::vector<std::string>& vary, const std::vector<std::vector<std::string>>& zips);

  const std::vector<std::string>& keys() const { return keys_; }  // every swept key, column order
  std::size_t runs() const { return runs_; }
  // The value of every key in run `id` (< runs()), in keys() order.
  std::vector<std::string> values(std::size_t id) const;

 private:
  struct Axis {
    std::size_t first = 0, count = 0;  // keys_[first, first + count) vary together
    std::size_t size = 0;              // values per key
  };
  void add(const std::string& spec, const char* option);

  std::vector<std::string> keys_;
  std::vector<std::vector<std::string>> values_;  // per key
  std::vector<Axis> axes_;
  std::size_t runs_ = 1;
};

}  // namespace moesim::cli
