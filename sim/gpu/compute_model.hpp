#pragma once
// Kernel durations on one GPU: a roofline (max of bytes / HBM rate and FLOPs / matrix rate, each
// with its achievable efficiency, plus a launch overhead) unless the profile has a measured table
// for this model.
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "core/units.hpp"
#include "gpu/profile.hpp"
#include "spec/model_spec.hpp"
#include "spec/phase.hpp"
#include "spec/settings.hpp"
#include "spec/step_batch.hpp"

namespace moesim {

// A copy from HBM to HBM (a dispatch to a local expert): read and write at the HBM rate.
TimePs hbm_copy_ps(const Profile& profile, Bytes bytes);
// Streaming `bytes` through HBM (read or written once) at its achievable rate.
TimePs hbm_stream_ps(const Profile& profile, Bytes bytes);

class ComputeModel {
 public:
  ComputeModel(const Profile& profile, const ModelSpec& model);
  // It keeps references to both: temporaries would dangle.
  ComputeModel(const Profile&& profile, const ModelSpec& model) = delete;
  ComputeModel(const Profile& profile, const ModelSpec&& model) = delete;

  // Attention (projections + core attention) for `tokens` new tokens of one layer.
  // Decode: each token attends over `kv_len` cached tokens (KV read). Prefill: the tokens are
  // one prompt chunk attending causally over themselves (kv_len ignored).
  TimePs attention_ps(int tokens, WorkloadPhase phase, int kv_len) const;
  // The same for any mix of sequences (spec/step_batch.hpp): prompt chunks over their cached
  // context, decode sequences of their own KV lengths.
  TimePs attention_ps(const AttentionWork& work) const;
  // The core attention alone (softmax(Q K^T) V over the KV cache, no projections, no launch):
  // the measured tables where the profile has them, else the roofline of the KV reads and FLOPs.
  // What `moesim-fit --check-attention` holds beside a measured attention kernel.
  TimePs core_attention_ps(const AttentionWork& work) const;
  TimePs dense_ffn_ps(int tokens) const;  // a dense layer's FFN
  // Router GEMM + top-k, then the permute into the experts' layout (unless `permute` is false: an
  // EP kernel that permutes as it dispatches).
  TimePs gate_ps(int tokens, bool permute = true) const;
  // Routed experts on one GPU: grouped GEMM over its local experts, tokens per local expert.
  // With a usable expert_us table: expert_fixed_us + the sum over the experts with n > 0 of the
  // per-expert time at n, from the curve for as many experts per call as have tokens (expert_us
  // at all the model's experts, expert_e<N>_us at N; linear in log N between curves, the nearest
  // outside them). Kernel tables are clamped below their first point and continue along their
  // last segment beyond their last.
  TimePs experts_ps(std::span<const int> tokens_per_local_expert) const;
  TimePs shared_experts_ps(int tokens) const;          // 0 when the model has none
  TimePs combine_ps(std::int64_t token_copies) const;  // weighted un-permute + reduce
  TimePs local_copy_ps(Bytes bytes) const;             // HBM-to-HBM copy (dispatch to a local expert)

  // "measured" when a table of a measured [kernels] section gave the time ("profile" when the
  // section is not marked measured), "roofline" otherwise, "measured+roofline" for a gate with only
  // one of its gate_us / permute_us tables; attention says which parts were measured, e.g.
  // "measured core, roofline projections"; experts add "(fp8)" for the fp8 tables. Phase in
  // {attention, dense_ffn, gate, experts, shared_experts, combine} (any other phase throws Error).
  // Tables are used only when the profile's kernels.model is this model (and, for expert_us,
  // kernels.weight_bytes its weight_bytes; for expert_fp8_us, fp8 weights); otherwise the
  // roofline says why, e.g. "roofline (profile tables are for qwen3-30b-a3b)".
  std::string source(Phase phase) const;
  // How much a phase's kernel time varies over repeated runs (a normal's sigma relative to the
  // mean): the profile's measured spread of its kernel ([kernels] <name>_cv: gate and permute for
  // the gate, expert, combine for the reduction); other phases take the median of the measured
  // spreads. 0 when the profile measured none.
  double jitter_cv(Phase phase) const;

 private:
  TimePs roofline_ps(double bytes, double flops, double rate_TFLOPs) const;
  const LogTable* table(const char* name) const;  // usable measured table, or nullptr
  std::string unused_tables(std::initializer_list<const char*> names) const;
  double expert_us(int active_experts, int tokens) const;  // one expert's share, measured curves
  double decode_core_us(double sequences, double context) const;  // measured decode curves
  TimePs core_roofline_ps(double kv_tokens, double flops) const;   // core attention, no launch
  std::string measured_word() const;                                 // "measured" | "profile"
  const Profile& profile_;
  const ModelSpec& model_;
  using Curves = std::vector<std::pair<double, const LogTable*>>;  // (experts or sequences, curve), sorted
  Curves expert_curves_;
  bool fp8_experts_ = false;                 // expert_curves_ are the fp8 set
  double expert_fixed_us_ = 0;               // the set's fixed cost per call
  Curves decode_curves_;                     // attn_decode_b<B>_us by B
  const LogTable* prefill_table_ = nullptr;  // attn_prefill_us
};

}  // namespace moesim
