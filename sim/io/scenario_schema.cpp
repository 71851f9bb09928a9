// The scenario schema table and its documentation (see scenario_schema.hpp).
#include "io/scenario_schema.hpp"

#include <fmt/format.h>

#include <limits>

#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "spec/model_spec.hpp"

namespace moesim::io {

namespace {

constexpr double kMaxDim = 1 << 20;
constexpr double kMaxSteps = 1'000'000;

// Accessor pairs (get, set) for a Scenario field, by the field's type.
#define MOESIM_INT(field)                                                           \
  [](const Scenario& s) -> KeyValue { return static_cast<std::int64_t>(s.field); }, \
      [](Scenario& s, const KeyValue& v) { s.field = static_cast<int>(std::get<std::int64_t>(v)); }
#define MOESIM_NUM(field)                                \
  [](const Scenario& s) -> KeyValue { return s.field; }, \
      [](Scenario& s, const KeyValue& v) { s.field = std::get<double>(v); }
#define MOESIM_BOOL(field)                               \
  [](const Scenario& s) -> KeyValue { return s.field; }, \
      [](Scenario& s, const KeyValue& v) { s.field = std::get<bool>(v); }
#define MOESIM_STR(field)                                \
  [](const Scenario& s) -> KeyValue { return s.field; }, \
      [](Scenario& s, const KeyValue& v) { s.field = std::get<std::string>(v); }
#define MOESIM_ENUM(Enum, field)                                         \
  [](const Scenario& s) -> KeyValue { return setting_string(s.field); }, \
      [](Scenario& s, const KeyValue& v) { s.field = *parse_setting<Enum>(std::get<std::string>(v)); }

bool synthetic_gate(const Scenario& s) { return s.trace_path.empty() && s.gate.kind != GateModel::uniform; }

bool serving(const Scenario& s) { return s.serving.enabled; }
bool disaggregated(const Scenario& s) { return s.serving.enabled && s.serving.disaggregated; }
std::vector<std::string> workload_dists() { return {"fixed", "uniform", "lognormal"}; }

std::vector<std::string> gate_kinds() {
  std::vector<std::string> k = setting_names<GateModel>();
  k.push_back("trace");
  return k;
}

// One key a row reads better than one field a line.
// clang-format off
std::vector<ScenarioKey> make_keys() {
  using T = KeyType;
  using N = KeyNeed;
  const double int64_max = static_cast<double>(std::numeric_limits<std::int64_t>::max());
  return {
      {"", "name", T::string, 0, 0, {}, N::optional, "file stem", "names the run and its default output directory: 1 to 100 letters, digits, `.`, `_` or `-`, not starting with `.` (a file stem's other characters become `_`)",
       MOESIM_STR(name)},
      {"", "seed", T::integer, 0, int64_max, {}, N::optional, "1", "seeds the gate; same seed, same results",
       [](const Scenario& s) -> KeyValue { return static_cast<std::int64_t>(s.seed); },
       [](Scenario& s, const KeyValue& v) { s.seed = static_cast<std::uint64_t>(std::get<std::int64_t>(v)); }},
      {"model", "preset", T::string, 0, 0, {}, N::read_by_code, "none",
       "a model preset: a file of `models/` without `.toml` (`moesim keys` lists them), or a path to a model TOML "
       "file; the keys below override its fields"},
      {"model", "name", T::string, 0, 0, {}, N::optional, "preset / `custom`", "the model's name in reports",
       MOESIM_STR(model.name)},
      {"model", "hidden", T::integer, 1, kMaxDim, {}, N::without_preset, "preset", "hidden size",
       MOESIM_INT(model.hidden)},
      {"model", "layers", T::integer, 1, kMaxDim, {}, N::without_preset, "preset", "transformer layers",
       MOESIM_INT(model.layers)},
      {"model", "dense_layers", T::integer, 0, kMaxDim, {}, N::optional, "preset / 0", "leading dense layers",
       MOESIM_INT(model.dense_layers)},
      {"model", "routed_experts", T::integer, 1, kMaxDim, {}, N::without_preset, "preset", "routed experts per MoE layer",
       MOESIM_INT(model.routed_experts)},
      {"model", "shared_experts", T::integer, 0, kMaxDim, {}, N::optional, "preset / 0", "always-active experts",
       MOESIM_INT(model.shared_experts)},
      {"model", "top_k", T::integer, 1, kMaxDim, {}, N::without_preset, "preset", "experts per token",
       MOESIM_INT(model.top_k)},
      {"model", "expert_ffn", T::integer, 1, kMaxDim, {}, N::without_preset, "preset", "a routed expert's FFN size",
       MOESIM_INT(model.expert_ffn)},
      {"model", "shared_ffn", T::integer, 0, kMaxDim, {}, N::optional, "preset / 0", "a shared expert's FFN size",
       MOESIM_INT(model.shared_ffn)},
      {"model", "dense_ffn", T::integer, 0, kMaxDim, {}, N::optional, "preset / 0", "a dense layer's FFN size",
       MOESIM_INT(model.dense_ffn)},
      {"model", "attn_params", T::number, 0, 1e12, {}, N::without_preset, "preset", "attention weights per layer (elements)",
       MOESIM_NUM(model.attn_params)},
      {"model", "kv_bytes_per_token", T::number, 0, 1e9, {}, N::without_preset, "preset", "KV cache bytes per token per layer",
       MOESIM_NUM(model.kv_bytes_per_token)},
      {"model", "attn_weight_bytes", T::number, 0, 8, {}, N::optional, "0", "attention weights' bytes per element when they differ from `weight_bytes` (0 = the same)",
       MOESIM_NUM(model.attn_weight_bytes)},
      {"model", "attn_flops_per_ctx", T::number, 0, 1e12, {}, N::optional, "4 x hidden", "decode core-attention FLOPs per (query, context token) (MLA, GQA differ)",
       MOESIM_NUM(model.attn_flops_per_ctx)},
      {"model", "attn_prefill_flops_per_ctx", T::number, 0, 1e12, {}, N::optional, "4 x hidden", "prefill core-attention FLOPs per (query, context token)",
       MOESIM_NUM(model.attn_prefill_flops_per_ctx)},
      {"model", "weight_bytes", T::number, 0.01, 8, {}, N::optional, "2", "expert weights' bytes per element (fp8 = 1, bf16 = 2)",
       MOESIM_NUM(model.weight_bytes)},
      {"model", "dispatch_bytes", T::number, 0.01, 8, {}, N::optional, "2", "bytes per element of a dispatched hidden vector",
       MOESIM_NUM(model.dispatch_bytes)},
      {"model", "combine_bytes", T::number, 0.01, 8, {}, N::optional, "2", "bytes per element of a combined result",
       MOESIM_NUM(model.combine_bytes)},
      {"hardware", "topology", T::path, 0, 0, {}, N::required, "required", "topology TOML (see `topologies/README.md`)",
       MOESIM_STR(topology_path)},
      {"hardware", "profile", T::path, 0, 0, {}, N::required, "required", "device profile TOML (see `calibrate/profiles/README.md`)",
       MOESIM_STR(profile_path)},
      {"hardware", "kernel_jitter", T::boolean, 0, 0, {}, N::optional, "false",
       "each compute kernel's time varies per launch and GPU by the profile's measured spread ([kernels] *_cv), "
       "seeded by `seed`: sweep the seed for a band",
       MOESIM_BOOL(kernel_jitter)},
      {"parallelism", "ep", T::integer, 0, 1 << 16, {}, N::optional, "0", "EP size: the first `ep` GPUs of the topology (0 = all)",
       MOESIM_INT(ep_size)},
      {"workload", "phase", T::choice, 0, 0, setting_names<WorkloadPhase>(), N::optional, "`decode`",
       "decode: new tokens over a KV cache; prefill: prompt tokens", MOESIM_ENUM(WorkloadPhase, workload.phase)},
      {"workload", "tokens_per_gpu", T::integer, 1, 1 << 20, {}, N::required, "required",
       "decode batch / prompt tokens per GPU per step", MOESIM_INT(workload.tokens_per_gpu)},
      {"workload", "kv_len", T::integer, 0, 1 << 24, {}, N::optional, "4096 (decode), 0 (prefill)",
       "cached context per sequence in decode", MOESIM_INT(workload.kv_len),
       [](const Scenario& s) -> KeyValue { return std::int64_t{s.prefill() ? 0 : 4096}; }},
      {"workload", "steps", T::integer, 1, kMaxSteps, {}, N::optional, "10", "steps simulated back to back",
       MOESIM_INT(workload.steps)},
      {"workload", "kv_len_dist", T::choice, 0, 0, workload_dists(), N::optional, "`fixed`",
       "decode: each sequence's context, drawn per rank: `fixed` (kv_len), `uniform` in [1, 2 kv_len - 1], "
       "`lognormal` with mean kv_len and CV kv_len_cv",
       MOESIM_ENUM(LengthKind, workload.kv_len_dist)},
      {"workload", "kv_len_cv", T::number, 0, 10, {}, N::optional, "1", "with kv_len_dist = lognormal: its CV",
       MOESIM_NUM(workload.kv_len_cv), nullptr,
       [](const Scenario& s) { return s.workload.kv_len_dist == LengthKind::lognormal; }},
      {"workload", "prompt_len", T::integer, 0, 1 << 20, {}, N::optional, "0",
       "prefill: the step's tokens are prompts of this length (the last cut); 0 = one prompt of tokens_per_gpu",
       MOESIM_INT(workload.prompt_len)},
      {"workload", "prompt_len_dist", T::choice, 0, 0, workload_dists(), N::optional, "`fixed`",
       "prefill: prompt lengths drawn like kv_len_dist (mean prompt_len)", MOESIM_ENUM(LengthKind, workload.prompt_len_dist)},
      {"workload", "prompt_len_cv", T::number, 0, 10, {}, N::optional, "1", "with prompt_len_dist = lognormal: its CV",
       MOESIM_NUM(workload.prompt_len_cv), nullptr,
       [](const Scenario& s) { return s.workload.prompt_len_dist == LengthKind::lognormal; }},
      {"gate", "kind", T::choice, 0, 0, gate_kinds(), N::read_by_code, "`uniform`",
       "token -> top-k expert selection: a synthetic generator or a recorded trace",
       [](const Scenario& s) -> KeyValue { return s.trace_path.empty() ? setting_string(s.gate.kind) : "trace"; }},
      {"gate", "preset", T::string, 0, 0, {}, N::read_by_code, "none",
       "a routing preset fitted to published expert loads: a file of `models/routing/` without `.toml` (`moesim keys` "
       "lists them), or a path to one; sets `kind` and the popularity keys below (not `capacity_*`), which the table's "
       "own keys override. Not with `trace`"},
      {"gate", "trace", T::path, 0, 0, {}, N::read_by_code, "required with `trace`",
       "a routing trace (`sim/trace/FORMAT.md`); mapping rules below", MOESIM_STR(trace_path), nullptr,
       [](const Scenario& s) { return !s.trace_path.empty(); }},
      {"gate", "zipf_exponent", T::number, 0, 20, {}, N::optional, "1.0",
       "zipf: weight of the r-th most popular expert ~ 1/(r+1)^s", MOESIM_NUM(gate.zipf_exponent), nullptr,
       [](const Scenario& s) { return synthetic_gate(s) && s.gate.kind == GateModel::zipf; }},
      {"gate", "lognormal_sigma", T::number, 0, 10, {}, N::optional, "1.0",
       "lognormal: expert e weighs exp(sigma z_e), z_e ~ N(0,1); load CV ~ sqrt(e^(sigma^2) - 1)",
       MOESIM_NUM(gate.lognormal_sigma), nullptr,
       [](const Scenario& s) { return synthetic_gate(s) && s.gate.kind == GateModel::lognormal; }},
      {"gate", "lognormal_sigma_spread", T::number, 0, 3, {}, N::optional, "0",
       "lognormal with layer_variation: layer l's sigma is lognormal_sigma x exp(spread x g_l), g_l ~ N(0,1) seeded "
       "per layer (capped at 10): the skew itself differs between layers",
       MOESIM_NUM(gate.lognormal_sigma_spread), nullptr,
       [](const Scenario& s) { return synthetic_gate(s) && s.gate.kind == GateModel::lognormal; }},
      {"gate", "layer_variation", T::boolean, 0, 0, {}, N::optional, "false",
       "each MoE layer has its own popularity (else one popularity for all layers)", MOESIM_BOOL(gate.layer_variation),
       nullptr, synthetic_gate},
      {"gate", "layer_correlation", T::number, 0, 1, {}, N::optional, "0",
       "with layer_variation: adjacent layers' popularity scores correlate by this (k layers apart: rho^k)",
       MOESIM_NUM(gate.layer_correlation), nullptr, synthetic_gate},
      {"gate", "drift_per_step", T::number, 0, 1, {}, N::optional, "0",
       "fraction of each expert's popularity score renewed per step (a stationary random walk: the hot set moves, "
       "the skew stays)",
       MOESIM_NUM(gate.drift_per_step), nullptr, synthetic_gate},
      {"gate", "drift_interval_steps", T::integer, 1, kMaxSteps, {}, N::optional, "1",
       "popularity is held this many steps, then jumps", MOESIM_INT(gate.drift_interval_steps), nullptr, synthetic_gate},
      {"gate", "rank_locality", T::number, 0, 1, {}, N::optional, "0",
       "probability that a token of GPU r draws from the popularity rotated by r*E/G (each data-parallel rank "
       "prefers its own experts)",
       MOESIM_NUM(gate.rank_locality), nullptr, synthetic_gate},
      {"gate", "groups", T::integer, 0, kMaxDim, {}, N::optional, "0 (off)",
       "group-limited routing (DeepSeek-V3): experts form this many equal groups of consecutive ids; a token picks "
       "`groups_per_token` groups (by their experts' popularity mass), then its top_k experts inside them. Must divide "
       "the routed experts. A trace's tokens with picks in more groups keep the groups holding most of them, the "
       "others become the kept groups' lowest free ids (a note counts them)",
       MOESIM_INT(gate.groups), nullptr, [](const Scenario& s) { return s.gate.groups > 0; }},
      {"gate", "groups_per_token", T::integer, 1, kMaxDim, {}, N::optional, "1",
       "groups a token's experts may come from: at most `groups`, and their experts at least top_k",
       MOESIM_INT(gate.groups_per_token), nullptr, [](const Scenario& s) { return s.gate.groups > 0; }},
      {"gate", "capacity_factor", T::number, 0, 1e6, {}, N::optional, "0 (off)",
       "expert capacity per MoE layer and micro-batch: C = ceil(factor x T x top_k / experts), T = tokens of all live "
       "GPUs; assignments over it are dropped (not sent, not computed); also with traces. `per_expert.csv` and "
       "`dropped_fraction` report them",
       MOESIM_NUM(gate.capacity_factor), nullptr, [](const Scenario& s) { return s.gate.capacity_factor > 0; }},
      {"gate", "capacity_policy", T::choice, 0, 0, setting_names<CapacityPolicy>(), N::optional, "`drop_by_score`",
       "over capacity: `drop_by_score` keeps each expert's lowest pick indices (a token's best picks) first, ties by "
       "position; `drop_by_position` keeps the first C by position (GPU, then token); `pad`: each GPU sends every "
       "expert a buffer of ceil(factor x its tokens x top_k / experts) slots, drops its overflow by score and pads the "
       "rest (bytes and expert compute of full buffers, no dedup)",
       MOESIM_ENUM(CapacityPolicy, gate.capacity_policy), nullptr,
       [](const Scenario& s) { return s.gate.capacity_factor > 0; }},
      {"placement", "kind", T::choice, 0, 0, setting_names<PlacementKind>(), N::optional, "`contiguous`",
       "expert -> GPU slots per MoE layer (see below)", MOESIM_ENUM(PlacementKind, placement)},
      {"placement", "file", T::path, 0, 0, {}, N::read_by_code, "required with `from_file`",
       "a placement file (TOML or CSV); every run writes the placement it used as `placement.toml` in this format",
       MOESIM_STR(placement_file), nullptr, [](const Scenario& s) { return !s.placement_file.empty(); }},
      {"placement", "window_steps", T::integer, 1, kMaxSteps, {}, N::optional, "8",
       "load-aware strategies look at the routing of steps 0..window_steps-1 of the scenario's own gate",
       MOESIM_INT(placement_window_steps)},
      {"placement", "redundant_slots", T::integer, 0, 1 << 20, {}, N::optional, "0",
       "`redundant`: extra replicas in total; experts + slots must be a multiple of the GPU count",
       MOESIM_INT(redundant_slots)},
      {"placement", "rebalance_every_steps", T::integer, 0, kMaxSteps, {}, N::optional, "0 (never)",
       "load-aware strategies: before every K-th step, recompute the placement from the routing of the "
       "`window_steps` steps before it; the expert weights each GPU gains are copied from their old first holder as "
       "network flows during that step; `summary.json` gives `rebalance.weight_bytes_moved`",
       MOESIM_INT(rebalance_every_steps)},
      {"network", "model", T::choice, 0, 0, setting_names<NetworkModelKind>(), N::optional, "`flow`",
       "max-min fluid model, or per-link processor-sharing estimate", MOESIM_ENUM(NetworkModelKind, network_model)},
      {"network", "ep_kernel", T::string, 0, 0, {}, N::optional, "`nccl`",
       "the profile's expert-parallel kernel (`[ep_kernel.<name>]`) that moves dispatch and combine: its mode "
       "(nccl, hierarchical, low_latency, one_sided), fixed costs and efficiencies; see `moesim comm`",
       MOESIM_STR(ep_kernel)},
      {"network", "dedup", T::boolean, 0, 0, {}, N::optional, "true",
       "nccl kernels: one dispatch copy per (token, destination GPU) instead of per (token, expert); other modes "
       "deduplicate as their kernel does",
       MOESIM_BOOL(dedup)},
      {"network", "fuse_permute_reduce", T::boolean, 0, 0, {}, N::optional, "false",
       "the EP kernel permutes tokens into the experts' layout as it dispatches and reduces them as it combines "
       "(as DeepEP does): moesim's own permute and reduction kernels are then not run",
       MOESIM_BOOL(fuse_permute_reduce)},
      {"network", "resolve_tolerance", T::number, 0, 0.5, {}, N::optional, "0.05",
       "flow model: re-solve max-min rates once this fraction of the active flows has started or finished since the "
       "last solve; 0 = after every start and finish (exact). Always slower than exact: freed bandwidth idles until "
       "the next solve",
       MOESIM_NUM(resolve_tolerance)},
      {"network", "layer_barrier", T::boolean, 0, 0, {}, N::optional, "false",
       "all GPUs wait for each other after every layer", MOESIM_BOOL(layer_barrier)},
      {"overlap", "mode", T::choice, 0, 0, setting_names<OverlapMode>(), N::optional, "`none`",
       "split each GPU's tokens into two micro-batches sharing the compute stream", MOESIM_ENUM(OverlapMode, overlap)},
      {"output", "dir", T::string, 0, 0, {}, N::optional, "`results/<name>`",
       "result directory, relative to the working directory; `-o` overrides it", MOESIM_STR(output_dir)},
      {"output", "timeline_steps", T::integer, 0, 1000, {}, N::optional, "1", "steps drawn in `timeline.json`",
       MOESIM_INT(timeline_steps)},
      {"output", "link_activity_steps", T::integer, 0, 1000000, {}, N::optional, "1",
       "steps whose link busy fraction and 10-us peak are recorded (the first ones; each takes ~20% more CPU time)",
       MOESIM_INT(link_activity_steps)},
      {"serving", "arrival", T::choice, 0, 0, setting_names<ArrivalKind>(), N::optional, "`poisson`",
       "how requests arrive: Poisson at rate_per_s, gamma inter-arrivals (CV arrival_cv), a closed loop of `users`, "
       "or the times of the request trace",
       MOESIM_ENUM(ArrivalKind, serving.arrival), nullptr, serving},
      {"serving", "rate_per_s", T::number, 1e-6, 1e7, {}, N::optional, "10", "requests per second (poisson, gamma)",
       MOESIM_NUM(serving.rate_per_s), nullptr, serving},
      {"serving", "arrival_cv", T::number, 0.01, 100, {}, N::optional, "1", "gamma: CV of the inter-arrival times",
       MOESIM_NUM(serving.arrival_cv), nullptr, serving},
      {"serving", "users", T::integer, 1, 1 << 24, {}, N::optional, "64", "closed_loop: users, each with one request at a time",
       MOESIM_INT(serving.users), nullptr, serving},
      {"serving", "think_s", T::number, 0, 1e6, {}, N::optional, "0", "closed_loop: pause between a reply and the next request",
       MOESIM_NUM(serving.think_s), nullptr, serving},
      {"serving", "duration_s", T::number, 1e-6, 1e6, {}, N::optional, "60",
       "requests arriving in [0, duration_s) are served to completion", MOESIM_NUM(serving.duration_s), nullptr, serving},
      {"serving", "max_requests", T::integer, 0, 100'000'000, {}, N::optional, "0", "stop arrivals after this many (0 = no limit)",
       MOESIM_INT(serving.max_requests), nullptr, serving},
      {"serving", "prompt_dist", T::choice, 0, 0, setting_names<LengthKind>(), N::optional, "`fixed`",
       "prompt lengths: `fixed` (prompt_len), `uniform` in [prompt_min, prompt_max], `lognormal` (mean prompt_len, "
       "CV prompt_cv, clamped to [prompt_min, prompt_max]), `empirical` (those of the request trace)",
       MOESIM_ENUM(LengthKind, serving.prompt.kind), nullptr, serving},
      {"serving", "prompt_len", T::integer, 1, 1 << 22, {}, N::optional, "1024", "fixed prompt length, or the lognormal mean",
       MOESIM_INT(serving.prompt.value), nullptr, serving},
      {"serving", "prompt_cv", T::number, 0, 10, {}, N::optional, "1", "lognormal prompt lengths: CV",
       MOESIM_NUM(serving.prompt.cv), nullptr, serving},
      {"serving", "prompt_min", T::integer, 1, 1 << 22, {}, N::optional, "1", "uniform / lognormal prompt lengths: lowest",
       MOESIM_INT(serving.prompt.min), nullptr, serving},
      {"serving", "prompt_max", T::integer, 1, 1 << 22, {}, N::optional, "32768", "uniform / lognormal prompt lengths: highest",
       MOESIM_INT(serving.prompt.max), nullptr, serving},
      {"serving", "output_dist", T::choice, 0, 0, setting_names<LengthKind>(), N::optional, "`fixed`",
       "output lengths, as prompt_dist", MOESIM_ENUM(LengthKind, serving.output.kind), nullptr, serving},
      {"serving", "output_len", T::integer, 1, 1 << 22, {}, N::optional, "256", "fixed output length, or the lognormal mean",
       MOESIM_INT(serving.output.value), nullptr, serving},
      {"serving", "output_cv", T::number, 0, 10, {}, N::optional, "1", "lognormal output lengths: CV",
       MOESIM_NUM(serving.output.cv), nullptr, serving},
      {"serving", "output_min", T::integer, 1, 1 << 22, {}, N::optional, "1", "uniform / lognormal output lengths: lowest",
       MOESIM_INT(serving.output.min), nullptr, serving},
      {"serving", "output_max", T::integer, 1, 1 << 22, {}, N::optional, "8192", "uniform / lognormal output lengths: highest",
       MOESIM_INT(serving.output.max), nullptr, serving},
      {"serving", "trace", T::path, 0, 0, {}, N::read_by_code, "none",
       "a request trace (arrival = trace, or empirical lengths); relative to the scenario file",
       MOESIM_STR(serving.trace_path), nullptr, [](const Scenario& s) { return s.serving.enabled && !s.serving.trace_path.empty(); }},
      {"serving", "trace_format", T::choice, 0, 0, setting_names<RequestTraceFormat>(), N::optional, "`azure`",
       "the request trace's format: Azure LLM inference CSV, BurstGPT CSV, Mooncake JSONL",
       MOESIM_ENUM(RequestTraceFormat, serving.trace_format), nullptr, serving},
      {"serving", "trace_time_scale", T::number, 1e-6, 1e6, {}, N::optional, "1",
       "the trace's inter-arrival times are divided by this (2 = twice the rate)", MOESIM_NUM(serving.trace_time_scale),
       nullptr, serving},
      {"serving", "routing", T::choice, 0, 0, setting_names<RankRouting>(), N::optional, "`least_loaded`",
       "which data-parallel rank a new request joins", MOESIM_ENUM(RankRouting, serving.routing), nullptr, serving},
      {"serving", "kv_memory_fraction", T::number, 0.01, 1, {}, N::optional, "0.9",
       "share of the HBM left after weights that holds KV cache", MOESIM_NUM(serving.kv_memory_fraction), nullptr, serving},
      {"serving", "replicas", T::integer, 1, 1 << 16, {}, N::optional, "1",
       "copies of the EP group (parallelism.ep GPUs each) serving together", MOESIM_INT(serving.pool.replicas), nullptr, serving},
      {"serving", "max_running", T::integer, 1, 1 << 20, {}, N::optional, "256", "running requests per rank",
       MOESIM_INT(serving.pool.max_running), nullptr, serving},
      {"serving", "max_batched_tokens", T::integer, 1, 1 << 24, {}, N::optional, "8192",
       "new tokens per rank per step (decode tokens and prefill chunks)", MOESIM_INT(serving.pool.max_batched_tokens),
       nullptr, serving},
      {"serving", "prefill_chunk", T::integer, 1, 1 << 24, {}, N::optional, "2048",
       "chunked prefill: most prompt tokens of one request in one step", MOESIM_INT(serving.pool.prefill_chunk), nullptr, serving},
      {"serving", "disaggregated", T::boolean, 0, 0, {}, N::optional, "false",
       "separate prefill and decode pools; the KV cache moves between them over the topology",
       MOESIM_BOOL(serving.disaggregated), nullptr, serving},
      {"serving", "prefill_ep", T::integer, 0, 1 << 16, {}, N::optional, "0",
       "disaggregated: the prefill pool's EP size (0 = parallelism.ep)", MOESIM_INT(serving.prefill_pool.ep), nullptr, disaggregated},
      {"serving", "prefill_replicas", T::integer, 1, 1 << 16, {}, N::optional, "1",
       "disaggregated: copies of the prefill EP group", MOESIM_INT(serving.prefill_pool.replicas), nullptr, disaggregated},
      {"serving", "prefill_max_batched_tokens", T::integer, 1, 1 << 24, {}, N::optional, "16384",
       "disaggregated: prompt tokens per prefill rank per step", MOESIM_INT(serving.prefill_pool.max_batched_tokens),
       nullptr, disaggregated},
      {"serving", "mtp_draft_tokens", T::integer, 0, 8, {}, N::optional, "0",
       "multi-token prediction: draft tokens per decode step (0 = off); the MTP module runs as that many extra MoE "
       "layers",
       MOESIM_INT(serving.mtp_draft_tokens), nullptr, serving},
      {"serving", "mtp_acceptance", T::number, 0, 1, {}, N::optional, "0.8",
       "probability a draft token is accepted (the first rejection ends a step's run)", MOESIM_NUM(serving.mtp_acceptance),
       nullptr, serving},
      {"serving", "slo_ttft_ms", T::number, 0, 1e9, {}, N::optional, "0", "goodput: time to first token bound (0 = none)",
       MOESIM_NUM(serving.slo_ttft_ms), nullptr, serving},
      {"serving", "slo_tpot_ms", T::number, 0, 1e9, {}, N::optional, "0", "goodput: time per output token bound (0 = none)",
       MOESIM_NUM(serving.slo_tpot_ms), nullptr, serving},
      {"serving", "memo_tolerance", T::number, 0, 0.5, {}, N::optional, "0.07",
       "step costs memoised by batch shape (tokens, most on a rank, slowest rank's attention + gate + token send) in "
       "buckets this wide (relative; 1.5x for most on a rank), moved along locally fitted slopes within a bucket, new "
       "buckets among simulated ones interpolated; 0 = every step simulated in full",
       MOESIM_NUM(serving.memo_tolerance), nullptr, serving},
      {"serving", "check_samples", T::integer, 0, 100'000, {}, N::optional, "100",
       "memoised steps re-simulated in full to measure the shortcut's error", MOESIM_INT(serving.check_samples), nullptr,
       serving},
      {"faults", "kind", T::choice, 0, 0, setting_names<FaultKind>(), N::read_by_code, "required",
       "what fails (see Faults below)"},
      {"faults", "a", T::string, 0, 0, {}, N::read_by_code, "required (link faults)", "a link's first node"},
      {"faults", "b", T::string, 0, 0, {}, N::read_by_code, "required (link faults)", "a link's second node"},
      {"faults", "duplex", T::boolean, 0, 0, {}, N::read_by_code, "true", "link faults: both directions"},
      {"faults", "bandwidth_factor", T::number, 1e-6, 1, {}, N::read_by_code, "required (link_degraded)",
       "the fraction of its bandwidth a degraded link keeps"},
      {"faults", "gpu", T::integer, 0, 1 << 16, {}, N::read_by_code, "required (GPU faults)", "the GPU"},
      {"faults", "compute_factor", T::number, 1, 1000, {}, N::read_by_code, "required (slow_gpu)",
       "every kernel on the GPU takes this many times longer"},
  };
}

// clang-format on

#undef MOESIM_INT
#undef MOESIM_NUM
#undef MOESIM_BOOL
#undef MOESIM_STR
#undef MOESIM_ENUM

std::string number_text(double v) {
  if (v >= 9e18) return "2^63-1";
  return fmt::format("{}", v);
}

}  // namespace

std::string ScenarioKey::dotted() const {
  return section.empty() ? std::string(name) : fmt::format("{}.{}", section, name);
}

const std::vector<ScenarioKey>& scenario_keys() {
  static const std::vector<ScenarioKey> keys = make_keys();  // immutable after first use
  return keys;
}

const ScenarioKey& scenario_key(std::string_view section, std::string_view name) {
  for (const ScenarioKey& k : scenario_keys())
    if (k.section == section && k.name == name) return k;
  throw Error(fmt::format("scenario schema has no key {}.{}", section, name));
}

std::string key_type_text(const ScenarioKey& k) {
  switch (k.type) {
    case KeyType::integer:
      return fmt::format("integer {} .. {}", number_text(k.min), number_text(k.max));
    case KeyType::number:
      return fmt::format("number {} .. {}", number_text(k.min), number_text(k.max));
    case KeyType::boolean:
      return "bool";
    case KeyType::string:
      return "string";
    case KeyType::path:
      return "path";
    case KeyType::choice: {
      std::string out;
      for (const std::string& c : k.choices) out += fmt::format("{}`{}`", out.empty() ? "" : " / ", c);
      return out;
    }
  }
  return "?";
}

std::string scenario_keys_markdown() {
  std::string out = "| key | type / range | default | meaning |\n|---|---|---|---|\n";
  for (const ScenarioKey& k : scenario_keys()) {
    const std::string key = k.section.empty()       ? fmt::format("`{}`", k.name)
                            : k.section == "faults" ? fmt::format("`[[faults]] {}`", k.name)
                                                    : fmt::format("`[{}] {}`", k.section, k.name);
    out += fmt::format("| {} | {} | {} | {} |\n", key, key_type_text(k), k.default_text, k.help);
  }
  return out;
}

std::string scenario_keys_text() {
  std::string out;
  for (const ScenarioKey& k : scenario_keys()) {
    std::string type = key_type_text(k);
    std::erase(type, '`');
    std::string def(k.default_text);
    std::erase(def, '`');
    out += fmt::format("{:<34} {:<40} default {}\n", k.dotted(), type, def);
    if (!k.help.empty()) out += fmt::format("{:<34} {}\n", "", k.help);
  }
  std::string presets;
  for (const std::string& n : model_preset_names()) presets += (presets.empty() ? "" : ", ") + n;
  out += fmt::format("\nmodel presets in {}: {}\n", models_dir(), presets);
  std::string routing;
  for (const std::string& n : routing_preset_names()) routing += (routing.empty() ? "" : ", ") + n;
  out += fmt::format("routing presets in {}: {}\n", routing_presets_dir(), routing);
  return out;
}

}  // namespace moesim::io
