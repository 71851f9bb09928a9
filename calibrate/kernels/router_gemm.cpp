// Router GEMM and the bf16 A B^T product through cublasGemmEx (see router_gemm.hpp).
#include "kernels/router_gemm.hpp"

#include "bench/cublas_check.hpp"

namespace moesim::calib {

void gemm_abt(cublasHandle_t handle, const void* a, const void* b, void* c, cudaDataType_t c_type, int m, int n, int k,
              cudaStream_t stream) {
  if (m <= 0 || n <= 0 || k <= 0) return;
  const float alpha = 1.0f, beta = 0.0f;
  MOESIM_CUBLAS_CHECK(cublasSetStream(handle, stream));
  // Column-major: a is k x m (row-major m x k), used transposed; b is k x n (row-major n x k).
  MOESIM_CUBLAS_CHECK(cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, m, n, k, &alpha, a, CUDA_R_16BF, k, b, CUDA_R_16BF,
                                   k, &beta, c, c_type, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

void router_gemm(cublasHandle_t handle, const std::uint16_t* x, const std::uint16_t* w, int tokens, int hidden,
                 int experts, float* logits, cudaStream_t stream) {
  // logits^T (experts x tokens, column-major) = w (experts x hidden) . x^T: row-major [tokens][experts].
  gemm_abt(handle, w, x, logits, CUDA_R_32F, experts, tokens, hidden, stream);
}

}  // namespace moesim::calib
