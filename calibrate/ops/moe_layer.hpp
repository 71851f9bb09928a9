#pragma once
// The fixture of the layer operations: one MoE layer on one GPU with every routed expert resident
// (bf16 weights), its buffers, generated inputs and phases: router GEMM + top-k gate, permute,
// grouped-GEMM experts with SwiGLU, combine. The gate runs on the layer's own inputs, but permute /
// experts / combine follow the routing set from the host (synthetic gate or trace), so the load
// per expert is what the experiment asks for, not what random router weights would give. The
// operations in ops/*_op.cpp run a phase each and check it against its CPU reference.
#include <cublas_v2.h>

#include <cstdint>
#include <string>
#include <vector>

#include "bench/device_buffer.hpp"
#include "kernels/expert_ffn.hpp"
#include "kernels/gate_config.hpp"
#include "ops/routing.hpp"

namespace moesim::calib {

struct LayerShape {
  std::string model;
  int hidden = 0, experts = 0, top_k = 0, ffn = 0;
  GateConfig gate;
};

// The layer's device buffers, row-major (t tokens, k = top_k, e experts, h hidden, f expert ffn).
struct LayerBuffers {
  DeviceBuffer<std::uint16_t> x, router_w, w1, w2;            // [t][h], [e][h], [e][2f][h], [e][h][f]
  DeviceBuffer<std::uint16_t> x_perm, y, act, out_perm, out;  // [t k][h], [t k][2f], [t k][f], [t k][h], [t][h]
  DeviceBuffer<float> bias, logits, gate_w, route_w;         // [e], [t][e], [t][k] (the gate's), [t][k] (the routing's)
  DeviceBuffer<std::int32_t> gate_ids, route_ids, perm_row;  // [t][k] each
  DeviceBuffer<int> scratch, offsets;                        // permute scratch, [e + 1]
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
  void gate(cudaStream_t stream);  // router GEMM + top-k
  void permute(cudaStream_t stream);
  void experts(cudaStream_t stream);  // gate/up grouped GEMM, SwiGLU, down grouped GEMM
  void swiglu(cudaStream_t stream);   // SwiGLU alone (after experts has run once)
  void combine(cudaStream_t stream);
  void layer(cudaStream_t stream);  // gate, permute, experts, combine

  // Keeps the current layer output on the host (the whole-layer check compares with it).
  void save_output();
  const std::vector<std::uint16_t>& saved_output() const { return saved_output_; }

  const LayerShape& shape() const { return shape_; }
  const Routing& routing() const { return routing_; }
  const std::vector<int>& counts() const { return counts_; }
  const ExpertFfn& ffn() const { return ffn_; }
  int tokens() const { return routing_.tokens; }
  std::uint64_t seed() const { return seed_; }
  const std::vector<float>& bias() const { return bias_host_; }  // the gate's correction bias
  const LayerBuffers& buffers() const { return b_; }

 private:
  LayerShape shape_;
  int max_tokens_;
  std::uint64_t seed_;
  cublasHandle_t handle_;
  Routing routing_;
  std::vector<int> counts_;
  std::vector<float> bias_host_;
  std::vector<std::uint16_t> saved_output_;
  LayerBuffers b_;
  ExpertFfn ffn_;
};

// Seeds and scales of the layer's test inputs (the checks regenerate them on the host).
struct LayerSeeds {
  static std::uint64_t x(std::uint64_t s) { return s * 16 + 1; }
  static std::uint64_t router(std::uint64_t s) { return s * 16 + 2; }
  static std::uint64_t w1(std::uint64_t s) { return s * 16 + 3; }
  static std::uint64_t w2(std::uint64_t s) { return s * 16 + 4; }
  static constexpr int kInputExp2 = -6;  // activations n / 64; weights also times 2^fan_in_exp2(fan-in)
};

}  // namespace moesim::calib
