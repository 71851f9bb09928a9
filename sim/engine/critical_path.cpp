// Critical-path walk over the task log (see critical_path.hpp).
#include "engine/critical_path.hpp"

namespace moesim {

std::vector<std::int32_t> TaskLog::chain(std::int32_t last) const {
  std::vector<std::int32_t> out;
  for (std::int32_t t = last; t >= 0; t = at(t).pred) out.push_back(t);
  return out;
}

}  // namespace moesim
