// Model presets from the published Hugging Face config.json files, and ModelSpec validation.
// Assumption: all experts are SwiGLU/GLU (three projections); norms, biases and embeddings are
// ignored in the sizes since they are tiny next to the projections.
#include "spec/model_spec.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"

namespace moesim {

namespace {

// Attention weights of multi-head / grouped-query attention: q, k, v and o projections.
double gqa_attn_params(double hidden, double heads, double kv_heads, double head_dim) {
  return hidden * heads * head_dim          // q_proj
         + 2.0 * hidden * kv_heads * head_dim  // k_proj, v_proj
         + heads * head_dim * hidden;        // o_proj
}

// K and V cached for every kv head.
double gqa_kv_bytes(double kv_heads, double head_dim, double bytes) { return 2.0 * kv_heads * head_dim * bytes; }

// QK^T and PV over head_dim per head, 2 FLOPs per multiply-add.
double gqa_flops_per_ctx(double heads, double head_dim) { return 4.0 * heads * head_dim; }

// deepseek-ai/DeepSeek-V3 config.json: hidden_size 7168, num_hidden_layers 61,
// first_k_dense_replace 3, n_routed_experts 256, n_shared_experts 1, num_experts_per_tok 8,
// moe_intermediate_size 2048, intermediate_size 18432, num_attention_heads 128, q_lora_rank 1536,
// kv_lora_rank 512, qk_rope_head_dim 64, qk_nope_head_dim 128, v_head_dim 128,
// quantization_config fp8 (e4m3, 128x128 blocks). Dispatch fp8 / combine bf16 as in DeepEP.
ModelSpec deepseek_v3() {
  ModelSpec m;
  m.name = "deepseek-v3";
  m.hidden = 7168;
  m.layers = 61;
  m.dense_layers = 3;
  m.routed_experts = 256;
  m.shared_experts = 1;
  m.top_k = 8;
  m.expert_ffn = 2048;
  m.shared_ffn = 2048;  // the shared expert has the routed experts' shape (moe_intermediate_size)
  m.dense_ffn = 18432;
  const double h = 7168, heads = 128, q_lora = 1536, kv_lora = 512, rope = 64, nope = 128, v_dim = 128;
  // MLA: q_a_proj + q_b_proj + kv_a_proj_with_mqa + kv_b_proj + o_proj = 187,105,280 elements.
  m.attn_params = h * q_lora + q_lora * heads * (nope + rope) + h * (kv_lora + rope) +
                  kv_lora * heads * (nope + v_dim) + heads * v_dim * h;
  // The cache holds the compressed latent and the shared rope key, in bf16 (FlashMLA's default).
  m.kv_bytes_per_token = (kv_lora + rope) * 2;
  // Decode uses the absorbed form: each head scores over the 576-wide latent+rope key and sums
  // the 512-wide latent values. Prefill expands to per-head keys (192) and values (128).
  m.attn_flops_per_ctx = 2.0 * heads * ((kv_lora + rope) + kv_lora);
  m.attn_prefill_flops_per_ctx = 2.0 * heads * ((nope + rope) + v_dim);
  m.weight_bytes = 1;
  m.dispatch_bytes = 1;
  m.combine_bytes = 2;
  return m;
}

// mistralai/Mixtral-8x7B-v0.1 config.json: hidden_size 4096, num_hidden_layers 32,
// num_local_experts 8, num_experts_per_tok 2, intermediate_size 14336, num_attention_heads 32,
// num_key_value_heads 8 (head_dim 4096 / 32 = 128), torch_dtype bfloat16.
ModelSpec mixtral_8x7b() {
  ModelSpec m;
  m.name = "mixtral-8x7b";
  m.hidden = 4096;
  m.layers = 32;
  m.routed_experts = 8;
  m.top_k = 2;
  m.expert_ffn = 14336;
  m.attn_params = gqa_attn_params(4096, 32, 8, 128);
  m.kv_bytes_per_token = gqa_kv_bytes(8, 128, 2);
  m.attn_flops_per_ctx = gqa_flops_per_ctx(32, 128);
  return m;  // bf16 weights, dispatch and combine (the defaults)
}

// Qwen/Qwen3-235B-A22B config.json: hidden_size 4096, num_hidden_layers 94, num_experts 128,
// num_experts_per_tok 8, moe_intermediate_size 1536, num_attention_heads 64,
// num_key_value_heads 4, head_dim 128, decoder_sparse_step 1 and no mlp_only_layers (all MoE).
ModelSpec qwen3_235b_a22b() {
  ModelSpec m;
  m.name = "qwen3-235b-a22b";
  m.hidden = 4096;
  m.layers = 94;
  m.routed_experts = 128;
  m.top_k = 8;
  m.expert_ffn = 1536;
  m.attn_params = gqa_attn_params(4096, 64, 4, 128);
  m.kv_bytes_per_token = gqa_kv_bytes(4, 128, 2);
  m.attn_flops_per_ctx = gqa_flops_per_ctx(64, 128);
  return m;
}

// Qwen/Qwen3-30B-A3B config.json: hidden_size 2048, num_hidden_layers 48, num_experts 128,
// num_experts_per_tok 8, moe_intermediate_size 768, num_attention_heads 32,
// num_key_value_heads 4, head_dim 128, all layers MoE.
ModelSpec qwen3_30b_a3b() {
  ModelSpec m;
  m.name = "qwen3-30b-a3b";
  m.hidden = 2048;
  m.layers = 48;
  m.routed_experts = 128;
  m.top_k = 8;
  m.expert_ffn = 768;
  m.attn_params = gqa_attn_params(2048, 32, 4, 128);
  m.kv_bytes_per_token = gqa_kv_bytes(4, 128, 2);
  m.attn_flops_per_ctx = gqa_flops_per_ctx(32, 128);
  return m;
}

// openai/gpt-oss-120b config.json: hidden_size 2880, num_hidden_layers 36, num_local_experts 128,
// experts_per_token 4, intermediate_size 2880, num_attention_heads 64, num_key_value_heads 8,
// head_dim 64; expert weights MXFP4 (4-bit values + one 8-bit scale per 32 = 4.25 bits =
// 0.53125 bytes), attention in bf16. Alternating 128-token sliding-window layers are not modelled.
ModelSpec gpt_oss_120b() {
  ModelSpec m;
  m.name = "gpt-oss-120b";
  m.hidden = 2880;
  m.layers = 36;
  m.routed_experts = 128;
  m.top_k = 4;
  m.expert_ffn = 2880;
  m.attn_params = gqa_attn_params(2880, 64, 8, 64);
  m.kv_bytes_per_token = gqa_kv_bytes(8, 64, 2);
  m.attn_flops_per_ctx = gqa_flops_per_ctx(64, 64);
  m.weight_bytes = 4.25 / 8.0;
  m.attn_weight_bytes = 2;
  return m;
}

// allenai/OLMoE-1B-7B-0924 config.json: hidden_size 2048, num_hidden_layers 16, num_experts 64,
// num_experts_per_tok 8, intermediate_size 1024, num_attention_heads 16,
// num_key_value_heads 16 (MHA, head_dim 128), bf16.
ModelSpec olmoe_1b_7b() {
  ModelSpec m;
  m.name = "olmoe-1b-7b";
  m.hidden = 2048;
  m.layers = 16;
  m.routed_experts = 64;
  m.top_k = 8;
  m.expert_ffn = 1024;
  m.attn_params = gqa_attn_params(2048, 16, 16, 128);
  m.kv_bytes_per_token = gqa_kv_bytes(16, 128, 2);
  m.attn_flops_per_ctx = gqa_flops_per_ctx(16, 128);
  return m;
}

// databricks/dbrx-base config.json: d_model 6144, n_layers 40, n_heads 48,
// attn_config.kv_n_heads 8 (head_dim 128), ffn_config.moe_num_experts 16, moe_top_k 4,
// ffn_hidden_size 10752 (GLU experts: w1, v1, w2), bf16.
ModelSpec dbrx() {
  ModelSpec m;
  m.name = "dbrx";
  m.hidden = 6144;
  m.layers = 40;
  m.routed_experts = 16;
  m.top_k = 4;
  m.expert_ffn = 10752;
  m.attn_params = gqa_attn_params(6144, 48, 8, 128);
  m.kv_bytes_per_token = gqa_kv_bytes(8, 128, 2);
  m.attn_flops_per_ctx = gqa_flops_per_ctx(48, 128);
  return m;
}

void require(bool ok, const std::string& where, const std::string& what) {
  if (!ok) throw InputError(fmt::format("{}: {}", where, what));
}

void require_bytes(double v, const std::string& where, const char* name) {
  require(std::isfinite(v) && v > 0 && v <= 8, where, fmt::format("{} must be in (0, 8] (got {})", name, v));
}

}  // namespace

void ModelSpec::validate(const std::string& where) const {
  auto positive = [&](int v, const char* n) { require(v > 0, where, fmt::format("{} must be > 0 (got {})", n, v)); };
  positive(hidden, "hidden");
  positive(layers, "layers");
  positive(routed_experts, "routed_experts");
  positive(top_k, "top_k");
  positive(expert_ffn, "expert_ffn");
  require(dense_layers >= 0 && dense_layers < layers, where,
          fmt::format("dense_layers must be in [0, layers) = [0, {}) (got {})", layers, dense_layers));
  require(top_k <= routed_experts, where,
          fmt::format("top_k ({}) must not exceed routed_experts ({})", top_k, routed_experts));
  require(shared_experts >= 0, where, fmt::format("shared_experts must be >= 0 (got {})", shared_experts));
  if (shared_experts > 0) positive(shared_ffn, "shared_ffn (the model has shared experts)");
  if (dense_layers > 0) positive(dense_ffn, "dense_ffn (the model has dense layers)");
  require(shared_ffn >= 0 && dense_ffn >= 0, where, "shared_ffn and dense_ffn must be >= 0");
  require(std::isfinite(attn_params) && attn_params > 0, where,
          fmt::format("attn_params must be > 0 (got {})", attn_params));
  require(std::isfinite(kv_bytes_per_token) && kv_bytes_per_token > 0, where,
          fmt::format("kv_bytes_per_token must be > 0 (got {})", kv_bytes_per_token));
  require_bytes(weight_bytes, where, "weight_bytes");
  require_bytes(dispatch_bytes, where, "dispatch_bytes");
  require_bytes(combine_bytes, where, "combine_bytes");
  if (attn_weight_bytes != 0) require_bytes(attn_weight_bytes, where, "attn_weight_bytes");
  require(std::isfinite(attn_flops_per_ctx) && attn_flops_per_ctx >= 0, where,
          fmt::format("attn_flops_per_ctx must be >= 0 (got {})", attn_flops_per_ctx));
  require(std::isfinite(attn_prefill_flops_per_ctx) && attn_prefill_flops_per_ctx >= 0, where,
          fmt::format("attn_prefill_flops_per_ctx must be >= 0 (got {})", attn_prefill_flops_per_ctx));
}

std::optional<ModelSpec> model_preset(std::string_view name) {
  if (name == "deepseek-v3") return deepseek_v3();
  if (name == "mixtral-8x7b") return mixtral_8x7b();
  if (name == "qwen3-235b-a22b") return qwen3_235b_a22b();
  if (name == "qwen3-30b-a3b") return qwen3_30b_a3b();
  if (name == "gpt-oss-120b") return gpt_oss_120b();
  if (name == "olmoe-1b-7b") return olmoe_1b_7b();
  if (name == "dbrx") return dbrx();
  return std::nullopt;
}

std::vector<std::string> model_preset_names() {
  return {"deepseek-v3", "mixtral-8x7b", "qwen3-235b-a22b", "qwen3-30b-a3b", "gpt-oss-120b", "olmoe-1b-7b", "dbrx"};
}

}  // namespace moesim
