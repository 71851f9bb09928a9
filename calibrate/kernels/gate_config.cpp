// Gate configuration names and limits (see gate_config.hpp); the limits are the top-k kernel's.
#include "kernels/gate_config.hpp"

#include <fmt/format.h>

#include <cmath>

#include "core/error.hpp"

namespace moesim::calib {

std::string gate_kind_name(GateKind kind) {
  return kind == GateKind::SoftmaxTopk ? "softmax_topk" : "sigmoid_group_topk";
}

GateKind parse_gate_kind(const std::string& text) {
  if (text == "softmax" || text == "softmax_topk") return GateKind::SoftmaxTopk;
  if (text == "sigmoid" || text == "sigmoid_group_topk") return GateKind::SigmoidGroupTopk;
  throw InputError(fmt::format("gate kind \"{}\": expected softmax_topk or sigmoid_group_topk", text));
}

void validate_gate_config(const GateConfig& c) {
  const auto fail = [](const std::string& what) { throw InputError("gate: " + what); };
  if (c.experts < 2 || c.experts > 512) fail(fmt::format("experts = {} outside [2, 512]", c.experts));
  if (c.top_k < 1 || c.top_k > 32 || c.top_k > c.experts)
    fail(fmt::format("top_k = {} outside [1, min(32, experts = {})]", c.top_k, c.experts));
  if (!(std::isfinite(c.scaling) && c.scaling > 0)) fail(fmt::format("scaling = {} must be > 0", c.scaling));
  if (c.kind == GateKind::SoftmaxTopk) {
    if (c.n_group != 1 || c.topk_group != 1) fail("softmax top-k takes no expert groups (n_group = topk_group = 1)");
    return;
  }
  if (c.n_group < 1 || c.n_group > 32) fail(fmt::format("n_group = {} outside [1, 32]", c.n_group));
  if (c.experts % c.n_group != 0) fail(fmt::format("experts = {} not divisible by n_group = {}", c.experts, c.n_group));
  if (c.topk_group < 1 || c.topk_group > c.n_group)
    fail(fmt::format("topk_group = {} outside [1, n_group = {}]", c.topk_group, c.n_group));
  const int per_group = c.experts / c.n_group;
  if (c.n_group > 1 && per_group < 2)
    fail(fmt::format("{} experts per group; group scores need at least 2", per_group));
  if (c.top_k > c.topk_group * per_group)
    fail(fmt::format("top_k = {} exceeds topk_group * experts per group = {}", c.top_k, c.topk_group * per_group));
}

}  // namespace moesim::calib
