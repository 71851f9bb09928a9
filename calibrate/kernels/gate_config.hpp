#pragma once
// How a router turns logits into top-k experts and weights: softmax top-k (Qwen3, Mixtral) or
// sigmoid scores with group-limited top-k and a selection-only correction bias (DeepSeek-V3).
// Plain data shared by the CUDA kernel, the CPU reference and the command line.
#include <string>

namespace moesim::calib {

enum class GateKind { SoftmaxTopk, SigmoidGroupTopk };

struct GateConfig {
  GateKind kind = GateKind::SoftmaxTopk;
  int experts = 0;
  int top_k = 0;
  int n_group = 1;        // sigmoid: expert groups (experts % n_group == 0)
  int topk_group = 1;     // sigmoid: groups a token may pick its experts from
  bool normalize = true;  // weights renormalised over the k selected
  float scaling = 1.0f;   // weights multiplied by this (DeepSeek-V3 routed_scaling_factor 2.5)
};

// "softmax_topk" | "sigmoid_group_topk" (the KernelMeasurement gate_kind strings).
std::string gate_kind_name(GateKind kind);
// Accepts the names above and the short forms "softmax" | "sigmoid"; throws InputError otherwise.
GateKind parse_gate_kind(const std::string& text);

// Throws InputError naming the bad field when the kernel cannot run this configuration
// (experts in [2, 512], top_k in [1, min(32, experts)], groups dividing the experts, at least two
// experts per group, n_group <= 32, top_k <= topk_group * experts per group).
void validate_gate_config(const GateConfig& c);

}  // namespace moesim::calib
