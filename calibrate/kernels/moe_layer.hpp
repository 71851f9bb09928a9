#pragma once
// One MoE layer on one GPU with every routed expert resident (bf16 weights): router GEMM + top-k
// gate, permute, grouped-GEMM experts with SwiGLU, combine. The gate runs on the layer's own
// inputs, but permute / experts / combine follow the routing set from the host (synthetic gate or
// trace), so the load per expert is what the experiment asks for, not what random router weights
// would give. Every phase can be checked against its CPU reference.
#include <cublas_v2.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench/device_buffer.hpp"
#include "kernels/expert_ffn.hpp"
#include "kernels/gate_config.hpp"
#include "kernels/routing.hpp"

namespace moesim::calib {

struct LayerShape {
  std::string model;
  int hidden = 0, experts = 0, top_k = 0, ffn = 0;
  GateConfig gate;
};

class MoeLayer {
 public:
  MoeLayer(const LayerShape& shape, int max_tokens, GemmMode mode, std::uint64_t seed, cublasHandle_t handle,
           cudaStream_t stream);
  // Device memory the layer allocates for `max_tokens` (weights of all experts included).
  static double device_bytes(const LayerShape& shape, int max_tokens);

  // Uploads the routing (tokens <= max_tokens) and plans the expert GEMMs for its loads.
  void set_routing(const Routing& routing);
  void set_gate(const GateConfig& gate);  // same experts and top_k; another gate kind
  void set_gemm_mode(GemmMode mode);      // re-plans the expert GEMMs

  void router_gemm(cudaStream_t stream);
  void topk(cudaStream_t stream);
  void gate(cudaStream_t stream);         // router GEMM + top-k
  void permute(cudaStream_t stream);
  void experts(cudaStream_t stream);      // gate/up grouped GEMM, SwiGLU, down grouped GEMM
  void swiglu(cudaStream_t stream);       // SwiGLU alone (after experts has run once)
  void combine(cudaStream_t stream);
  void layer(cudaStream_t stream);        // gate, permute, experts, combine

  // Checks against the CPU references (moe_layer_verify.cpp); each throws VerifyError naming what
  // differs and returns a one-line summary. Call after the phase has run on the current routing.
  std::string verify_router() const;
  std::string verify_topk() const;
  std::string verify_permute() const;
  std::string verify_experts() const;
  std::string verify_swiglu() const;
  std::string verify_combine() const;
  // Saves the current layer output; verify_output then compares the output with the saved one.
  void save_output();
  std::string verify_output() const;

  const LayerShape& shape() const { return shape_; }
  const Routing& routing() const { return routing_; }
  const std::vector<int>& counts() const { return counts_; }
  const ExpertFfn& ffn() const { return ffn_; }
  int tokens() const { return routing_.tokens; }

 private:
  LayerShape shape_;
  int max_tokens_;
  std::uint64_t seed_;
  cublasHandle_t handle_;
  Routing routing_;
  std::vector<int> counts_;
  std::vector<float> bias_host_;
  std::vector<std::uint16_t> saved_output_;
  DeviceBuffer<std::uint16_t> x_, router_w_, w1_, w2_, x_perm_, y_, act_, out_perm_, out_;
  DeviceBuffer<float> bias_, logits_, gate_w_, route_w_;
  DeviceBuffer<std::int32_t> gate_ids_, route_ids_, perm_row_;
  DeviceBuffer<int> scratch_, offsets_;
  ExpertFfn ffn_;
};

// Seeds and scales of the layer's test inputs (the verifier regenerates them on the host).
struct LayerSeeds {
  static std::uint64_t x(std::uint64_t s) { return s * 16 + 1; }
  static std::uint64_t router(std::uint64_t s) { return s * 16 + 2; }
  static std::uint64_t w1(std::uint64_t s) { return s * 16 + 3; }
  static std::uint64_t w2(std::uint64_t s) { return s * 16 + 4; }
};

}  // namespace moesim::calib
