#pragma once
// The operations of one single-GPU MoE layer (ops/moe_layer.hpp), one small file each: each
// phase's bytes and FLOPs (bench/expected_bytes.hpp), its run on the layer's buffers, and its
// check against the CPU reference. Call after set_routing; an operation reads the layer's current
// routing when asked for its bytes or to check.
#include <memory>

#include "bench/operation.hpp"
#include "ops/moe_layer.hpp"

namespace moesim::calib {

std::unique_ptr<Operation> make_router_gemm_op(MoeLayer& layer);  // "router GEMM": fp32 logits
std::unique_ptr<Operation> make_topk_op(MoeLayer& layer);         // "top-k": ids and weights
std::unique_ptr<Operation> make_gate_op(MoeLayer& layer);         // "gate": router GEMM + top-k
std::unique_ptr<Operation> make_permute_op(MoeLayer& layer);      // "permute"
std::unique_ptr<Operation> make_experts_op(MoeLayer& layer);      // "experts": GEMMs + SwiGLU
std::unique_ptr<Operation> make_swiglu_op(MoeLayer& layer);       // "SwiGLU" alone (after experts ran)
std::unique_ptr<Operation> make_combine_op(MoeLayer& layer);      // "combine"
// "layer": gate, permute, experts and combine as one; checked against the layer's output as it is
// when the operation is made (save_output), i.e. after the phases ran one by one.
std::unique_ptr<Operation> make_layer_op(MoeLayer& layer);

// The checks the gate shares with the router GEMM and top-k operations.
Verification check_router_logits(const MoeLayer& layer);  // 16 sampled tokens x all experts
Verification check_topk_choice(const MoeLayer& layer);    // every token

}  // namespace moesim::calib
