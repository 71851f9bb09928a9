// Kernel durations by roofline (or a measured table). Assumption: a phase's memory traffic and its
// math overlap perfectly, so the slower of the two sets its time, plus one fixed launch overhead.
#include "gpu/compute_model.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string_view>

#include "core/error.hpp"

namespace moesim {

namespace {

constexpr double kActBytes = 2;    // activations, router weights and intermediates are bf16
constexpr double kLogitBytes = 4;  // router logits are fp32

void check_count(std::int64_t n, const char* what) {
  if (n < 0) throw Error(fmt::format("ComputeModel: negative {} ({})", what, n));
}

}  // namespace

ComputeModel::ComputeModel(const Profile& profile, const ModelSpec& model) : profile_(profile), model_(model) {
  // Loaders validate profiles; this guards hand-built ones against a division by zero.
  if (!((profile_.hbm_bandwidth * profile_.hbm_efficiency).GBps() > 0) ||
      !(profile_.matrix_bf16_TFLOPs * profile_.matrix_efficiency > 0) || profile_.gemm_tile_m < 1)
    throw Error("ComputeModel: profile needs hbm_GBps, matrix_bf16_TFLOPs, efficiencies > 0 and gemm_tile_m >= 1");
  // The expert set at the model's weight precision: fp8 tables for fp8 weights, else expert_us at
  // kernels.weight_bytes (the profile never holds two sets at one precision).
  fp8_experts_ = table("expert_fp8_us") != nullptr;
  const auto calls_of = fp8_experts_ ? expert_fp8_calls_of : expert_calls_of;
  if (const LogTable* all = table(fp8_experts_ ? "expert_fp8_us" : "expert_us")) {
    expert_fixed_us_ = fp8_experts_ ? profile_.kernels_expert_fp8_fixed_us : profile_.kernels_expert_fixed_us;
    expert_curves_.emplace_back(static_cast<double>(std::max(1, model_.routed_experts)), all);
    for (const auto& [name, t] : profile_.kernels_us)
      if (const int n = calls_of(name); n > 0 && n != model_.routed_experts && !t.empty())
        expert_curves_.emplace_back(static_cast<double>(n), &t);
    std::sort(expert_curves_.begin(), expert_curves_.end());
  }
  for (const auto& [name, t] : profile_.kernels_us)
    if (const int b = attention_decode_batch_of(name); b > 0 && table(name.c_str()))
      decode_curves_.emplace_back(static_cast<double>(b), &t);
  std::sort(decode_curves_.begin(), decode_curves_.end());
  prefill_table_ = table("attn_prefill_us");
}

namespace {

constexpr double kBf16Bytes = 2;

// The rate a GEMM with weights of this precision reaches: fp4 or fp8 where the profile has the
// rate (fp4 takes the fp8 efficiencies: no fp4 figure is cited), else bf16; `grouped`: the routed
// experts' grouped GEMM with per-block scales, slower than a large dense one.
double gemm_TFLOPs(const Profile& p, double weight_bytes, bool grouped) {
  const double lowp_efficiency = grouped ? p.grouped_fp8() : p.fp8_efficiency();
  if (weight_bytes <= 0.5 && p.matrix_fp4_TFLOPs > 0) return p.matrix_fp4_TFLOPs * lowp_efficiency;
  if (weight_bytes <= 1 && p.matrix_fp8_TFLOPs > 0) return p.matrix_fp8_TFLOPs * lowp_efficiency;
  return p.matrix_bf16_TFLOPs * p.matrix_efficiency;
}

TimePs memory_ps(const Profile& p, double bytes) {
  return bytes > 0 ? transfer_ps(Bytes(bytes), p.hbm_bandwidth * p.hbm_efficiency) : 0;
}

TimePs math_ps(double flops, double rate_TFLOPs) { return flops > 0 ? compute_ps(flops, rate_TFLOPs) : 0; }

const LogTable* find_table(const Profile& p, const char* name) {
  const auto it = p.kernels_us.find(name);
  return it == p.kernels_us.end() || it->second.empty() ? nullptr : &it->second;
}

bool same_bytes(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)); }

// A kernel table is clamped below its first point (launch-bound: a smaller input costs no less)
// and continued along its last segment beyond its last point (throughput-bound: the time grows
// linearly with the work). Clamping there too would make a hot expert with 10x the largest
// measured load cost the same as that load. A one-point table has no slope: constant.
double kernel_table_us(const LogTable& t, double x) {
  const std::size_t n = t.x.size();
  if (n < 2 || !(x > t.x.back())) return t.at(x);
  const double slope = std::max(0.0, (t.y[n - 1] - t.y[n - 2]) / (t.x[n - 1] - t.x[n - 2]));
  return t.y[n - 1] + slope * (x - t.x[n - 1]);
}

TimePs table_ps(const LogTable& t, double x) { return ps_from_us(std::max(0.0, kernel_table_us(t, x))); }

// Attention tables are interpolated linearly in x between their points (not in log(x) as the
// other kernel tables): their grids are coarse (4x apart) and a core attention kernel costs a
// launch plus time in proportion to its work, which a straight line between points reproduces
// exactly and linear-in-log(x) overstates by up to 25% halfway between points 4x apart. Clamped
// below, extended along the last segment above, as every kernel table.
double attention_table_us(const LogTable& t, double x) {
  const std::size_t n = t.x.size();
  if (n < 2 || !(x > t.x.front()) || x > t.x.back()) return kernel_table_us(t, x);
  const auto hi = static_cast<std::size_t>(std::lower_bound(t.x.begin(), t.x.end(), x) - t.x.begin());
  const std::size_t lo = hi - 1;
  return t.y[lo] + (x - t.x[lo]) / (t.x[hi] - t.x[lo]) * (t.y[hi] - t.y[lo]);
}

}  // namespace

// A measured table applies only to the model whose shapes it was measured with (and the expert
// table only at the weight precision it was measured at).
const LogTable* ComputeModel::table(const char* name) const {
  const LogTable* t = find_table(profile_, name);
  if (!t || profile_.kernels_model != model_.name) return nullptr;
  if (std::string_view(name) == "expert_us" && !same_bytes(profile_.kernels_weight_bytes, model_.weight_bytes))
    return nullptr;
  if (std::string_view(name) == "expert_fp8_us" && !same_bytes(1.0, model_.weight_bytes)) return nullptr;
  return t;
}

std::string ComputeModel::measured_word() const {
  return profile_.kernels_provenance.source == "measured" ? "measured" : "profile";
}

// Why a phase whose tables exist in the profile still uses the roofline ("" when it has none).
std::string ComputeModel::unused_tables(std::initializer_list<const char*> names) const {
  for (const char* name : names) {
    if (!find_table(profile_, name) || table(name)) continue;
    if (profile_.kernels_model != model_.name)
      return fmt::format(" (profile tables are for {})", profile_.kernels_model);
    if (std::string_view(name) == "expert_fp8_us") continue;  // said by expert_us, or no table at all
    if (same_bytes(model_.weight_bytes, 1.0))
      return fmt::format(" (no fp8 expert table; the profile's expert table is for {}-byte weights)",
                         profile_.kernels_weight_bytes);
    return fmt::format(" (profile expert table is for {}-byte weights)", profile_.kernels_weight_bytes);
  }
  return "";
}

double ComputeModel::jitter_cv(Phase phase) const {
  const auto& cv = profile_.kernels_cv;
  if (cv.empty()) return 0;
  const auto of = [&](const char* name) {
    const auto it = cv.find(name);
    return it == cv.end() ? -1.0 : it->second;
  };
  double own = -1;
  switch (phase) {
    case Phase::gate:
      own = std::max(of("gate"), of("permute"));
      break;
    case Phase::experts:
      own = of("expert");
      break;
    case Phase::attention:
      own = of("attention");
      break;
    case Phase::reduce:
      own = of("combine");
      break;
    default:
      break;
  }
  if (own >= 0) return own;
  std::vector<double> all;
  for (const auto& [name, v] : cv) all.push_back(v);
  std::sort(all.begin(), all.end());
  return all[all.size() / 2];
}

TimePs ComputeModel::roofline_ps(double bytes, double flops, double rate_TFLOPs) const {
  return ps_from_ns(profile_.launch_ns) + std::max(memory_ps(profile_, bytes), math_ps(flops, rate_TFLOPs));
}

TimePs ComputeModel::attention_ps(int tokens, WorkloadPhase phase, int kv_len) const {
  check_count(tokens, "tokens");
  check_count(kv_len, "kv_len");
  AttentionWork w;
  // Decode: `tokens` sequences of one new token over kv_len cached; prefill: one prompt chunk.
  if (phase == WorkloadPhase::prefill) {
    w.add({tokens, 0, true});
  } else {  // what `tokens` chunks {1, kv_len} add up to
    w.tokens = tokens;
    w.kv_tokens = static_cast<double>(tokens) * (static_cast<double>(kv_len) + 1);
    w.decode_pairs = static_cast<double>(tokens) * kv_len;
    w.decode_seqs = tokens;
    w.decode_context = static_cast<double>(tokens) * kv_len;
    w.decode_kv_tokens = w.kv_tokens;
  }
  return attention_ps(w);
}

TimePs ComputeModel::attention_ps(const AttentionWork& w) const {
  if (w.tokens == 0) return 0;
  const double t = static_cast<double>(w.tokens);
  const double weight_bytes = model_.attention_weight_bytes();
  const double proj_bytes = model_.attn_params * weight_bytes + 2.0 * t * model_.hidden * kActBytes;
  const TimePs proj_math = math_ps(2.0 * model_.attn_params * t, gemm_TFLOPs(profile_, weight_bytes, false));
  if (decode_curves_.empty() && !prefill_table_) {
    // Weights, activations in and out, and the KV cache: each sequence's context read once and its
    // new entries written (flash attention keeps the scores on chip). Projections run at the
    // weights' rate, core attention in bf16; both share one memory stream.
    const double decode_flops = model_.decode_attn_flops_per_ctx() * w.decode_pairs;
    const double prefill_flops = model_.prefill_attn_flops_per_ctx() * w.prefill_pairs;
    const double bytes = proj_bytes + w.kv_tokens * model_.kv_bytes_per_token;
    const TimePs math = proj_math + math_ps(decode_flops + prefill_flops, gemm_TFLOPs(profile_, kBf16Bytes, false));
    return ps_from_ns(profile_.launch_ns) + std::max(memory_ps(profile_, bytes), math);
  }
  // Measured core kernels run after the projections (their own launches are in the tables); a
  // part without a table keeps its roofline, on the projections' launch.
  return ps_from_ns(profile_.launch_ns) + std::max(memory_ps(profile_, proj_bytes), proj_math) + core_attention_ps(w);
}

TimePs ComputeModel::core_attention_ps(const AttentionWork& w) const {
  TimePs sum = 0;
  if (w.decode_seqs > 0) {
    sum += decode_curves_.empty()
               ? core_roofline_ps(w.decode_kv_tokens, model_.decode_attn_flops_per_ctx() * w.decode_pairs)
               : ps_from_us(std::max(0.0, decode_core_us(w.decode_seqs, w.decode_context / w.decode_seqs)));
  }
  if (w.prefill_pairs > 0) {
    sum += prefill_table_ ? ps_from_us(std::max(0.0, attention_table_us(*prefill_table_, w.prefill_pairs)))
                          : core_roofline_ps(w.kv_tokens - w.decode_kv_tokens,
                                             model_.prefill_attn_flops_per_ctx() * w.prefill_pairs);
  }
  return sum;
}

TimePs ComputeModel::core_roofline_ps(double kv_tokens, double flops) const {
  return std::max(memory_ps(profile_, kv_tokens * model_.kv_bytes_per_token),
                  math_ps(flops, gemm_TFLOPs(profile_, kBf16Bytes, false)));
}

// Decode curves are per batch size: between them the time is linear in the sequences (with the
// contexts linear too, a launch plus time in proportion to sequences x context is exact);
// below the smallest it is that curve's (the kernel is launch- and latency-bound there); beyond
// the largest it grows in proportion (the GPU is full: more sequences, more passes). A decode
// sequence with draft tokens reads its context once, as a one-token sequence does.
double ComputeModel::decode_core_us(double sequences, double context) const {
  const auto& [b_max, last] = decode_curves_.back();
  if (sequences >= b_max) return attention_table_us(*last, context) * sequences / b_max;
  const auto hi = std::lower_bound(decode_curves_.begin(), decode_curves_.end(), sequences,
                                   [](const auto& curve, double v) { return curve.first < v; });
  if (hi == decode_curves_.begin() || hi->first == sequences) return attention_table_us(*hi->second, context);
  const auto lo = hi - 1;
  const double f = (sequences - lo->first) / (hi->first - lo->first);
  return (1 - f) * attention_table_us(*lo->second, context) + f * attention_table_us(*hi->second, context);
}

TimePs ComputeModel::dense_ffn_ps(int tokens) const {
  check_count(tokens, "tokens");
  if (tokens == 0 || model_.dense_ffn == 0) return 0;
  const double t = tokens, h = model_.hidden, f = model_.dense_ffn;
  // SwiGLU: gate, up and down projections; the activation is read in and the result written out.
  const double bytes = 3.0 * h * f * model_.weight_bytes + 2.0 * t * h * kActBytes;
  return roofline_ps(bytes, 6.0 * h * f * t, gemm_TFLOPs(profile_, model_.weight_bytes, false));
}

TimePs ComputeModel::gate_ps(int tokens, bool with_permute) const {
  check_count(tokens, "tokens");
  if (tokens == 0) return 0;
  const double t = tokens, h = model_.hidden, e = model_.routed_experts;
  // Router GEMM (bf16 weights h x E, fp32 logits, top-k on chip) ...
  const double router_bytes = h * e * kActBytes + t * h * kActBytes + t * e * kLogitBytes;
  const double router_flops = 2.0 * t * h * e;
  // ... then the permute reads each token once and writes it packed in the dispatch precision.
  const double permute_bytes = t * h * kActBytes + t * h * model_.dispatch_bytes;
  const LogTable* gate = table("gate_us");
  const LogTable* permute = table("permute_us");
  const double bf16 = gemm_TFLOPs(profile_, kBf16Bytes, false);
  if (!with_permute) return gate ? table_ps(*gate, t) : roofline_ps(router_bytes, router_flops, bf16);
  if (!gate && !permute) return roofline_ps(router_bytes + permute_bytes, router_flops, bf16);
  const TimePs router = gate ? table_ps(*gate, t) : roofline_ps(router_bytes, router_flops, bf16);
  return router + (permute ? table_ps(*permute, t) : roofline_ps(permute_bytes, 0, bf16));
}

// A grouped GEMM's per-expert cost depends on how many experts share the call (with few, each
// GEMM gets more of the GPU), so between measured curves it is interpolated in log(experts).
double ComputeModel::expert_us(int active_experts, int tokens) const {
  const double e = active_experts;
  const auto hi = std::lower_bound(expert_curves_.begin(), expert_curves_.end(), e,
                                   [](const auto& curve, double v) { return curve.first < v; });
  if (hi == expert_curves_.end()) return kernel_table_us(*expert_curves_.back().second, tokens);
  if (hi == expert_curves_.begin() || hi->first == e) return kernel_table_us(*hi->second, tokens);
  const auto lo = hi - 1;
  const double t = (std::log(e) - std::log(lo->first)) / (std::log(hi->first) - std::log(lo->first));
  return (1 - t) * kernel_table_us(*lo->second, tokens) + t * kernel_table_us(*hi->second, tokens);
}

TimePs ComputeModel::experts_ps(std::span<const int> tokens_per_local_expert) const {
  if (!expert_curves_.empty()) {
    // One grouped GEMM call: its fixed cost, then each expert with tokens at its own load.
    int active = 0;
    for (int n : tokens_per_local_expert) {
      check_count(n, "tokens for an expert");
      active += n > 0;
    }
    if (active == 0) return 0;
    TimePs sum = ps_from_us(expert_fixed_us_);
    for (int n : tokens_per_local_expert)
      if (n > 0) sum += ps_from_us(std::max(0.0, expert_us(active, n)));
    return sum;
  }
  const double h = model_.hidden, f = model_.expert_ffn;
  const double tile = profile_.gemm_tile_m;
  double bytes = 0, flops = 0;
  bool any = false;
  for (int n : tokens_per_local_expert) {
    check_count(n, "tokens for an expert");
    if (n == 0) continue;  // an idle expert's weights are never read
    any = true;
    const double t = n;
    // Weights, the input (dispatch precision), the output (combine precision) and the gate/up
    // intermediate, written once and read once, in bf16.
    bytes +=
        model_.expert_weight_bytes() + t * h * (model_.dispatch_bytes + model_.combine_bytes) + 2.0 * t * f * kActBytes;
    // The grouped GEMM pads each expert's rows to whole tiles: 1..tile tokens cost one tile.
    flops += 6.0 * h * f * std::ceil(t / tile) * tile;
  }
  return any ? roofline_ps(bytes, flops, gemm_TFLOPs(profile_, model_.weight_bytes, true)) : 0;
}

TimePs ComputeModel::shared_experts_ps(int tokens) const {
  check_count(tokens, "tokens");
  if (tokens == 0 || model_.shared_experts == 0) return 0;
  const double t = tokens, h = model_.hidden;
  const double f = static_cast<double>(model_.shared_ffn) * model_.shared_experts;
  const double bytes = model_.shared_weight_bytes() + 2.0 * t * h * kActBytes + 2.0 * t * f * kActBytes;
  return roofline_ps(bytes, 6.0 * h * f * t, gemm_TFLOPs(profile_, model_.weight_bytes, false));
}

TimePs ComputeModel::combine_ps(std::int64_t token_copies) const {
  check_count(token_copies, "token copies");
  if (token_copies == 0) return 0;
  const double c = static_cast<double>(token_copies);
  if (const LogTable* combine = table("combine_us")) return table_ps(*combine, c);
  // Reads every returned copy and writes one reduced vector per token; a token comes back as at
  // most top_k copies, so c / top_k tokens is the fewest it can be (the reads dominate anyway).
  const double h = model_.hidden;
  const double bytes = c * h * model_.combine_bytes + std::ceil(c / model_.top_k) * h * kActBytes;
  return roofline_ps(bytes, 0, gemm_TFLOPs(profile_, kBf16Bytes, false));
}

TimePs hbm_copy_ps(const Profile& profile, Bytes bytes) {
  if (!(bytes > Bytes{})) return 0;
  return memory_ps(profile, 2.0 * bytes.count());  // read and write; rides on the dispatch kernel's launch
}

TimePs hbm_stream_ps(const Profile& profile, Bytes bytes) { return memory_ps(profile, bytes.count()); }

TimePs ComputeModel::local_copy_ps(Bytes bytes) const { return hbm_copy_ps(profile_, bytes); }

std::string ComputeModel::source(Phase phase) const {
  const std::string measured = measured_word();
  if (phase == Phase::dense_ffn || phase == Phase::shared_experts) return "roofline";
  if (phase == Phase::attention) {
    const bool decode = !decode_curves_.empty(), prefill = prefill_table_ != nullptr;
    if (decode && prefill) return measured + " core, roofline projections";
    if (decode || prefill)
      return fmt::format("{} {} core, roofline {} core and projections", measured, decode ? "decode" : "prefill",
                         decode ? "prefill" : "decode");
    return "roofline" + unused_tables({"attn_prefill_us"});
  }
  if (phase == Phase::experts) {
    if (!expert_curves_.empty()) return measured + (fp8_experts_ ? " (fp8)" : "");
    return "roofline" + unused_tables({"expert_us", "expert_fp8_us"});
  }
  if (phase == Phase::combine) return table("combine_us") ? measured : "roofline" + unused_tables({"combine_us"});
  if (phase == Phase::gate) {
    const bool gate = table("gate_us") != nullptr;
    const bool permute = table("permute_us") != nullptr;
    if (gate && permute) return measured;
    return gate || permute ? measured + "+roofline" : "roofline" + unused_tables({"gate_us", "permute_us"});
  }
  throw Error(fmt::format("ComputeModel::source: no kernel of phase \"{}\"", phase_name(phase)));
}

}  // namespace moesim
