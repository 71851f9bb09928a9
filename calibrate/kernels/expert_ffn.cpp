// Grouped-GEMM expert FFN (see expert_ffn.hpp).
#include "kernels/expert_ffn.hpp"

#include <fmt/format.h>

#include <iostream>

#include "bench/cublas_check.hpp"
#include "kernels/router_gemm.hpp"
#include "kernels/swiglu.hpp"

namespace moesim::calib {

std::string gemm_mode_name(GemmMode mode) { return mode == GemmMode::Grouped ? "grouped" : "loop"; }

GemmMode parse_gemm_mode(const std::string& text) {
  if (text == "grouped") return GemmMode::Grouped;
  if (text == "loop") return GemmMode::Loop;
  throw InputError(fmt::format("--gemm \"{}\": expected grouped or loop", text));
}

bool grouped_gemm_compiled() {
#if CUBLAS_VERSION >= 120500
  return true;
#else
  return false;
#endif
}

ExpertFfn::ExpertFfn(cublasHandle_t handle, int experts, int hidden, int ffn, GemmMode mode)
    : handle_(handle), experts_(experts), hidden_(hidden), ffn_(ffn), mode_(mode) {
  if (mode_ == GemmMode::Grouped && !grouped_gemm_compiled()) {
    mode_ = GemmMode::Loop;
    note_ = "built against cuBLAS < 12.5 (no cublasGemmGroupedBatchedEx): one cublasGemmEx per expert";
  }
}

void ExpertFfn::plan(const std::vector<int>& counts, const std::uint16_t* w1, const std::uint16_t* w2,
                     const std::uint16_t* x_perm, std::uint16_t* y, std::uint16_t* act, std::uint16_t* out) {
  if (static_cast<int>(counts.size()) != experts_)
    throw Error(fmt::format("ExpertFfn::plan: {} counts for {} experts", counts.size(), experts_));
  w1_ = w1;
  w2_ = w2;
  x_perm_ = x_perm;
  y_ = y;
  act_ = act;
  out_ = out;
  active_.clear();
  counts_.clear();
  offsets_.clear();
  rows_ = 0;
  for (int e = 0; e < experts_; ++e) {
    if (counts[e] < 0) throw Error("ExpertFfn::plan: negative count");
    if (counts[e] > 0) {
      active_.push_back(e);
      counts_.push_back(counts[e]);
      offsets_.push_back(static_cast<int>(rows_));
    }
    rows_ += counts[e];
  }
  const std::size_t g = active_.size();
  trans_a_.assign(g, CUBLAS_OP_T);
  trans_b_.assign(g, CUBLAS_OP_N);
  m_[0].assign(g, 2 * ffn_);
  k_[0].assign(g, hidden_);
  m_[1].assign(g, hidden_);
  k_[1].assign(g, ffn_);
  n_ = counts_;
  group_size_.assign(g, 1);
  alpha_.assign(g, 1.0f);
  beta_.assign(g, 0.0f);
  if (g == 0) return;
  std::vector<const void*> host(6 * g);
  const std::size_t h = static_cast<std::size_t>(hidden_), f = static_cast<std::size_t>(ffn_);
  for (std::size_t i = 0; i < g; ++i) {
    const std::size_t e = static_cast<std::size_t>(active_[i]), off = static_cast<std::size_t>(offsets_[i]);
    host[i] = w1_ + e * 2 * f * h;       // A0: W1_e [2F][H]
    host[g + i] = x_perm_ + off * h;     // B0: the expert's input rows
    host[2 * g + i] = y_ + off * 2 * f;  // C0: gate/up rows
    host[3 * g + i] = w2_ + e * h * f;   // A1: W2_e [H][F]
    host[4 * g + i] = act_ + off * f;    // B1: activation rows
    host[5 * g + i] = out_ + off * h;    // C1: output rows
  }
  pointers_.allocate(host.size());
  pointers_.upload(host);
}

void ExpertFfn::gemms(int which, cudaStream_t stream) {
  const int g = active_experts();
  if (g == 0) return;
  const void* const* p = pointers_.get() + 3 * which * g;
  const cudaDataType_t bf16 = CUDA_R_16BF;
#if CUBLAS_VERSION >= 120500
  if (mode_ == GemmMode::Grouped) {
    MOESIM_CUBLAS_CHECK(cublasSetStream(handle_, stream));
    const int* ld_a = k_[which].data();  // A is k x m (used transposed): lda = k
    const cublasStatus_t s = cublasGemmGroupedBatchedEx(
        handle_, trans_a_.data(), trans_b_.data(), m_[which].data(), n_.data(), k_[which].data(), alpha_.data(), p,
        bf16, ld_a, p + g, bf16, k_[which].data(), beta_.data(), const_cast<void* const*>(p + 2 * g), bf16,
        m_[which].data(), g, group_size_.data(), CUBLAS_COMPUTE_32F);
    if (s != CUBLAS_STATUS_NOT_SUPPORTED) {
      check_cublas(s, "cublasGemmGroupedBatchedEx", __FILE__, __LINE__);
      return;
    }
    mode_ = GemmMode::Loop;
    note_ = "cublasGemmGroupedBatchedEx reported NOT_SUPPORTED for bf16: fell back to one cublasGemmEx per expert";
    std::cerr << "note: " << note_ << "\n";
  }
#endif
  const std::size_t h = static_cast<std::size_t>(hidden_), f = static_cast<std::size_t>(ffn_);
  for (int i = 0; i < g; ++i) {
    const std::size_t e = static_cast<std::size_t>(active_[i]), off = static_cast<std::size_t>(offsets_[i]);
    if (which == 0)
      gemm_abt(handle_, w1_ + e * 2 * f * h, x_perm_ + off * h, y_ + off * 2 * f, bf16, 2 * ffn_, counts_[i], hidden_,
               stream);
    else
      gemm_abt(handle_, w2_ + e * h * f, act_ + off * f, out_ + off * h, bf16, hidden_, counts_[i], ffn_, stream);
  }
}

void ExpertFfn::run(cudaStream_t stream) {
  gemms(0, stream);
  run_swiglu(stream);
  gemms(1, stream);
}

void ExpertFfn::run_swiglu(cudaStream_t stream) { launch_swiglu(y_, rows_, ffn_, act_, stream); }

}  // namespace moesim::calib
