#pragma once
// Checked NCCL calls: a failing call throws moesim::Error naming the call, the result (with
// NCCL's last error text) and file:line.
#include <nccl.h>

#include <string>

#include "core/error.hpp"

namespace moesim::calib {

inline void check_nccl(ncclResult_t result, const char* call, const char* file, int line) {
  if (result == ncclSuccess) return;
  throw Error(std::string(call) + " failed: " + ncclGetErrorString(result) + " (" + ncclGetLastError(nullptr) +
              ") at " + file + ":" + std::to_string(line));
}

}  // namespace moesim::calib

#define MOESIM_NCCL_CHECK(call) ::moesim::calib::check_nccl((call), #call, __FILE__, __LINE__)
