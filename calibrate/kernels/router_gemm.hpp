#pragma once
// The router GEMM through cuBLAS: fp32 logits [tokens][experts] = x [tokens][hidden] (bf16) times
// the router weights [experts][hidden] (bf16) transposed, fp32 accumulation (cublasGemmEx).
#include <cublas_v2.h>

#include <cstdint>

namespace moesim::calib {

void router_gemm(cublasHandle_t handle, const std::uint16_t* x, const std::uint16_t* w, int tokens, int hidden,
                 int experts, float* logits, cudaStream_t stream);

// rows_out [m][n] of the product a [m][k] . b [n][k]^T in column-major cuBLAS terms, bf16 in,
// `c_type` out (CUDA_R_16BF or CUDA_R_32F), fp32 compute: element (i, j) lands at c[j * m + i].
void gemm_abt(cublasHandle_t handle, const void* a, const void* b, void* c, cudaDataType_t c_type, int m, int n, int k,
              cudaStream_t stream);

}  // namespace moesim::calib
