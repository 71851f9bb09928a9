#pragma once
// Checked cuBLAS / cuBLASLt calls: a failing call throws moesim::Error naming the call, the
// status and file:line.
#include <cublas_api.h>

#include <string>

#include "core/error.hpp"

namespace moesim::calib {

inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(std::string(call) + " failed: " + cublasGetStatusName(status) + " (" + cublasGetStatusString(status) +
              ") at " + file + ":" + std::to_string(line));
}

}  // namespace moesim::calib

#define MOESIM_CUBLAS_CHECK(call) ::moesim::calib::check_cublas((call), #call, __FILE__, __LINE__)
