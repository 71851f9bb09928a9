// Square bf16 and fp8 GEMMs for the matrix-rate ceilings (see device_gemm.hpp).
#include "kernels/device_gemm.hpp"

#include <fmt/format.h>

#include "bench/cublas_check.hpp"
#include "kernels/fill.hpp"
#include "kernels/router_gemm.hpp"
#include "reference/host_values.hpp"

namespace moesim::calib {

namespace {

constexpr std::size_t kLtWorkspaceBytes = 64u << 20;

}  // namespace

Bf16Gemm::Bf16Gemm(cublasHandle_t handle, int n, std::uint64_t seed, cudaStream_t stream)
    : handle_(handle), n_(n), seed_(seed) {
  const std::size_t nn = static_cast<std::size_t>(n) * n;
  a_.allocate(nn);
  b_.allocate(nn);
  c_.allocate(nn);
  fill_bf16(a_.get(), nn, seed_, exp2_a(), stream);
  fill_bf16(b_.get(), nn, seed_ + 1, exp2_b(), stream);
}

int Bf16Gemm::exp2_a() const { return -6; }

int Bf16Gemm::exp2_b() const { return -6 + fan_in_exp2(n_); }

void Bf16Gemm::run(cudaStream_t stream) {
  gemm_abt(handle_, a_.get(), b_.get(), c_.get(), CUDA_R_16BF, n_, n_, n_, stream);
}

Fp8Gemm::Fp8Gemm(cublasLtHandle_t handle, int n, std::uint64_t seed, cudaStream_t stream)
    : handle_(handle), n_(n), seed_(seed) {
  int device = 0, major = 0, minor = 0;
  MOESIM_CUDA_CHECK(cudaGetDevice(&device));
  MOESIM_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  MOESIM_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device));
  if (major * 10 + minor < 89) {
    why_not_ = fmt::format("sm_{}{} has no fp8 tensor cores (needs sm_89 or newer)", major, minor);
    return;
  }
  if (n % 16 != 0) throw InputError(fmt::format("fp8 GEMM size {} must be a multiple of 16", n));
  const std::size_t nn = static_cast<std::size_t>(n) * n;
  a_.allocate(nn);
  b_.allocate(nn);
  d_.allocate(nn);
  workspace_.allocate(kLtWorkspaceBytes);
  fill_fp8(a_.get(), nn, seed_, stream);
  fill_fp8(b_.get(), nn, seed_ + 1, stream);
  MOESIM_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op_, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  MOESIM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  MOESIM_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(op_, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  const std::uint64_t un = static_cast<std::uint64_t>(n);
  MOESIM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&a_layout_, CUDA_R_8F_E4M3, un, un, n));  // k x m, used transposed
  MOESIM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&b_layout_, CUDA_R_8F_E4M3, un, un, n));  // k x n
  MOESIM_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d_layout_, CUDA_R_16BF, un, un, n));     // m x n
  cublasLtMatmulPreference_t pref = nullptr;
  MOESIM_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const std::size_t ws = kLtWorkspaceBytes;
  MOESIM_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  const cublasStatus_t s = cublasLtMatmulAlgoGetHeuristic(handle_, op_, a_layout_, b_layout_, d_layout_, d_layout_,
                                                          pref, 1, &result, &returned);
  (void)cublasLtMatmulPreferenceDestroy(pref);
  if (s != CUBLAS_STATUS_SUCCESS && s != CUBLAS_STATUS_NOT_SUPPORTED)
    check_cublas(s, "cublasLtMatmulAlgoGetHeuristic", __FILE__, __LINE__);
  if (s == CUBLAS_STATUS_NOT_SUPPORTED || returned == 0)
    throw Error(
        fmt::format("cuBLASLt offers no fp8 e4m3 GEMM algorithm for {0}x{0}x{0} on sm_{1}{2}", n, major, minor));
  algo_ = result.algo;
  available_ = true;
}

Fp8Gemm::~Fp8Gemm() {
  if (d_layout_) (void)cublasLtMatrixLayoutDestroy(d_layout_);
  if (b_layout_) (void)cublasLtMatrixLayoutDestroy(b_layout_);
  if (a_layout_) (void)cublasLtMatrixLayoutDestroy(a_layout_);
  if (op_) (void)cublasLtMatmulDescDestroy(op_);
}

void Fp8Gemm::run(cudaStream_t stream) {
  if (!available_) throw Error("Fp8Gemm::run: not available: " + why_not_);
  const float alpha = 1.0f, beta = 0.0f;
  MOESIM_CUBLAS_CHECK(cublasLtMatmul(handle_, op_, &alpha, a_.get(), a_layout_, b_.get(), b_layout_, &beta, d_.get(),
                                     d_layout_, d_.get(), d_layout_, &algo_, workspace_.get(), workspace_.bytes(),
                                     stream));
}

}  // namespace moesim::calib
