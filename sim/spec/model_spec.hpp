#pragma once
// Shapes of an MoE transformer: what the simulator needs to size traffic, weights and compute.
// Presets (models/*.toml) carry the published configurations of well-known models.
#include <string>

namespace moesim {

struct ModelSpec {
  std::string name;
  int hidden = 0;        // model dimension
  int layers = 0;        // all transformer layers
  int dense_layers = 0;  // leading layers with a dense FFN instead of MoE
  int routed_experts = 0;
  int shared_experts = 0;  // always-active experts, computed on the token's own GPU
  int top_k = 0;
  int expert_ffn = 0;             // intermediate size of one routed expert
  int shared_ffn = 0;             // intermediate size of one shared expert
  int dense_ffn = 0;              // intermediate size of a dense layer's FFN
  double attn_params = 0;         // attention weights per layer (elements)
  double kv_bytes_per_token = 0;  // KV-cache bytes per token per layer (at the serving precision)
  double weight_bytes = 2;        // bytes per weight element (fp8 = 1, bf16 = 2, mxfp4 ~ 0.53)
  double dispatch_bytes = 2;      // bytes per hidden element sent in dispatch
  double combine_bytes = 2;       // bytes per hidden element sent back in combine
  // Attention weights' precision when it differs from the experts' (gpt-oss: bf16 attention,
  // MXFP4 experts); 0 = same as weight_bytes.
  double attn_weight_bytes = 0;
  // Core-attention FLOPs per (query token, context token): QK^T and PV, 2 FLOPs per multiply-add,
  // i.e. 4 * heads * head_dim for MHA/GQA. 0 = 4 * hidden (MHA with heads * head_dim = hidden).
  double attn_flops_per_ctx = 0;
  // The same for prefill; differs for MLA, which decodes in the absorbed latent form but
  // prefills in the expanded form. 0 = attn_flops_per_ctx.
  double attn_prefill_flops_per_ctx = 0;

  int moe_layers() const { return layers - dense_layers; }
  // One routed expert's weights: gate, up and down projections (SwiGLU).
  double expert_weight_bytes() const { return 3.0 * hidden * expert_ffn * weight_bytes; }
  double shared_weight_bytes() const { return 3.0 * hidden * shared_ffn * weight_bytes * shared_experts; }
  double dispatch_bytes_per_token() const { return hidden * dispatch_bytes; }
  double combine_bytes_per_token() const { return hidden * combine_bytes; }
  double attention_weight_bytes() const { return attn_weight_bytes > 0 ? attn_weight_bytes : weight_bytes; }
  double decode_attn_flops_per_ctx() const { return attn_flops_per_ctx > 0 ? attn_flops_per_ctx : 4.0 * hidden; }
  double prefill_attn_flops_per_ctx() const {
    return attn_prefill_flops_per_ctx > 0 ? attn_prefill_flops_per_ctx : decode_attn_flops_per_ctx();
  }

  // Throws InputError (message prefixed with `where`) when a field is out of range.
  void validate(const std::string& where) const;
};

}  // namespace moesim
