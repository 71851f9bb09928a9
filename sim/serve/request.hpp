#pragma once
// A serving request: when it arrives and how many tokens it brings and asks for.
#include <cstdint>

#include "core/units.hpp"

namespace moesim {

struct Request {
  std::int64_t id = 0;
  TimePs arrival_ps = 0;
  int prompt_tokens = 0;  // >= 1
  int output_tokens = 0;  // >= 1: the first comes out of prefill
};

}  // namespace moesim
