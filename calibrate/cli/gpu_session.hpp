#pragma once
// The GPU resources a subcommand uses on device 0: one stream, a cuBLAS and a cuBLASLt handle,
// created after require_device() and released in reverse order.
#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "bench/cublas_check.hpp"
#include "bench/cuda_check.hpp"
#include "cli/run_meta.hpp"

namespace moesim::calib {

class GpuSession {
 public:
  GpuSession() {
    require_device();
    MOESIM_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    MOESIM_CUBLAS_CHECK(cublasCreate(&cublas));
    MOESIM_CUBLAS_CHECK(cublasSetStream(cublas, stream));
    MOESIM_CUBLAS_CHECK(cublasLtCreate(&lt));
  }
  ~GpuSession() {
    if (lt) (void)cublasLtDestroy(lt);
    if (cublas) (void)cublasDestroy(cublas);
    if (stream) (void)cudaStreamDestroy(stream);
  }
  GpuSession(const GpuSession&) = delete;
  GpuSession& operator=(const GpuSession&) = delete;

  cudaStream_t stream = nullptr;
  cublasHandle_t cublas = nullptr;
  cublasLtHandle_t lt = nullptr;
};

}  // namespace moesim::calib
