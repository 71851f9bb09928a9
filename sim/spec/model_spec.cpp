// ModelSpec validation (the presets are data: models/*.toml, read by io/scenario_loader).
#include "spec/model_spec.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"

namespace moesim {

namespace {

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

}  // namespace moesim
