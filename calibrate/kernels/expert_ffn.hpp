#pragma once
// Routed experts as grouped GEMMs: per expert with rows, the fused gate/up projection
// (rows x 2F = rows x H . W1_e^T), our SwiGLU, then the down projection (rows x H = rows x F .
// W2_e^T), bf16 in and out with fp32 accumulation. Grouped: one cublasGemmGroupedBatchedEx per
// projection (cuBLAS >= 12.5); loop: one cublasGemmEx per expert. Assumption: the rows per expert
// are known on the host before the launch (the calibrator's routing comes from the host).
#include <cublas_v2.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench/device_buffer.hpp"

namespace moesim::calib {

enum class GemmMode { Grouped, Loop };
std::string gemm_mode_name(GemmMode mode);          // "grouped" | "loop"
GemmMode parse_gemm_mode(const std::string& text);  // throws InputError
bool grouped_gemm_compiled();                       // cuBLAS >= 12.5 at build time

class ExpertFfn {
 public:
  ExpertFfn(cublasHandle_t handle, int experts, int hidden, int ffn, GemmMode mode);

  // counts[e] rows of x_perm for expert e, experts in order (offsets = prefix sums). w1: [E][2F][H],
  // w2: [E][H][F]; y: rows x 2F, act: rows x F, out: rows x H. Uploads the pointer arrays.
  void plan(const std::vector<int>& counts, const std::uint16_t* w1, const std::uint16_t* w2,
            const std::uint16_t* x_perm, std::uint16_t* y, std::uint16_t* act, std::uint16_t* out);
  void run(cudaStream_t stream);         // gate/up GEMMs, SwiGLU, down GEMMs
  void run_swiglu(cudaStream_t stream);  // SwiGLU alone (y -> act)

  GemmMode mode() const { return mode_; }
  const std::string& note() const { return note_; }  // e.g. a fallback from grouped to loop
  int active_experts() const { return static_cast<int>(active_.size()); }
  std::int64_t rows() const { return rows_; }

 private:
  void gemms(int which, cudaStream_t stream);  // 0: gate/up, 1: down
  cublasHandle_t handle_;
  int experts_, hidden_, ffn_;
  GemmMode mode_;
  std::string note_;
  std::int64_t rows_ = 0;
  std::vector<int> active_, counts_, offsets_;  // active expert ids; rows and first row per active
  const std::uint16_t *w1_ = nullptr, *w2_ = nullptr, *x_perm_ = nullptr;
  std::uint16_t *y_ = nullptr, *act_ = nullptr, *out_ = nullptr;
  // Grouped-GEMM arguments: host arrays per group (one expert each), device pointer arrays.
  std::vector<cublasOperation_t> trans_a_, trans_b_;
  std::vector<int> m_[2], k_[2], n_, group_size_;
  std::vector<float> alpha_, beta_;
  DeviceBuffer<const void*> pointers_;  // [A0 | B0 | C0 | A1 | B1 | C1], each active_experts long
};

}  // namespace moesim::calib
