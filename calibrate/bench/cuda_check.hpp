#pragma once
// Checked CUDA runtime calls: a failing call throws moesim::Error naming the call, the error and
// file:line, so no status is ever dropped. NoDeviceError marks "no usable CUDA device" (exit 77).
#include <cuda_runtime_api.h>

#include <string>

#include "core/error.hpp"

namespace moesim::calib {

class NoDeviceError : public Error {
 public:
  using Error::Error;
};

// A result check that failed: the GPU computed something other than the CPU reference (exit 3).
class VerifyError : public Error {
 public:
  using Error::Error;
};

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  throw Error(std::string(call) + " failed: " + cudaGetErrorName(status) + " (" + cudaGetErrorString(status) + ") at " +
              file + ":" + std::to_string(line));
}

}  // namespace moesim::calib

#define MOESIM_CUDA_CHECK(call) ::moesim::calib::check_cuda((call), #call, __FILE__, __LINE__)
// After a kernel launch: launch-configuration errors surface here, execution errors at the next sync.
#define MOESIM_CUDA_LAUNCH_CHECK(what) ::moesim::calib::check_cuda(cudaGetLastError(), what, __FILE__, __LINE__)
