#pragma once
// Square GEMMs for the device's matrix-rate ceilings: bf16 through cublasGemmEx and fp8 (e4m3,
// bf16 out) through cuBLASLt, "TN" layout (what cuBLASLt requires for fp8), fp32 accumulation,
// inputs from the exact test values (A from seed(), B from seed() + 1) so sampled outputs can be
// checked against float64 dot products (ops/gemm_op.cpp). Output entry (i, j) of A B^T (A and B
// row-major n x n) lies at j * n + i.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <cstdint>
#include <string>

#include "bench/device_buffer.hpp"

namespace moesim::calib {

class Bf16Gemm {
 public:
  Bf16Gemm(cublasHandle_t handle, int n, std::uint64_t seed, cudaStream_t stream);
  void run(cudaStream_t stream);
  double flops() const { return 2.0 * n_ * n_ * static_cast<double>(n_); }
  int n() const { return n_; }
  std::uint64_t seed() const { return seed_; }
  int exp2_a() const;  // bf16 inputs n * 2^exp2 (host_values.hpp)
  int exp2_b() const;
  const DeviceBuffer<std::uint16_t>& output() const { return c_; }

 private:
  cublasHandle_t handle_;
  int n_;
  std::uint64_t seed_;
  DeviceBuffer<std::uint16_t> a_, b_, c_;
};

class Fp8Gemm {
 public:
  // available() is false (with why_not()) when the GPU has no fp8 tensor cores (sm < 89) or
  // cuBLASLt offers no algorithm for this shape.
  Fp8Gemm(cublasLtHandle_t handle, int n, std::uint64_t seed, cudaStream_t stream);
  ~Fp8Gemm();
  Fp8Gemm(const Fp8Gemm&) = delete;
  Fp8Gemm& operator=(const Fp8Gemm&) = delete;
  bool available() const { return available_; }
  const std::string& why_not() const { return why_not_; }
  void run(cudaStream_t stream);
  double flops() const { return 2.0 * n_ * n_ * static_cast<double>(n_); }
  int n() const { return n_; }
  std::uint64_t seed() const { return seed_; }  // inputs fp8_test_value (host_values.hpp)
  const DeviceBuffer<std::uint16_t>& output() const { return d_; }

 private:
  cublasLtHandle_t handle_;
  int n_;
  std::uint64_t seed_;
  bool available_ = false;
  std::string why_not_;
  DeviceBuffer<std::uint8_t> a_, b_, workspace_;
  DeviceBuffer<std::uint16_t> d_;
  cublasLtMatmulDesc_t op_ = nullptr;
  cublasLtMatrixLayout_t a_layout_ = nullptr, b_layout_ = nullptr, d_layout_ = nullptr;
  cublasLtMatmulAlgo_t algo_{};
};

}  // namespace moesim::calib
