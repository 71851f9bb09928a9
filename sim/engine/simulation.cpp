// Simulation engine (see simulation.hpp): per-GPU task chains linked by data dependencies.
#include "engine/simulation.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "comm/ep_kernel.hpp"
#include "core/error.hpp"
#include "engine/faults.hpp"
#include "engine/placement_builder.hpp"
#include "engine/workload_batch.hpp"
#include "moe/group_routing.hpp"
#include "moe/reused_gate.hpp"
#include "moe/trace_gate.hpp"

namespace moesim {

namespace {
constexpr int kTagGpuBits = 16;  // task records carry GPU ids in 16 bits

int checked_gpus(const Scenario& s, const Topology& t) {
  const int n = s.ep_size == 0 ? t.gpu_count() : s.ep_size;
  if (n >= (1 << kTagGpuBits))  // the loaders allow far fewer
    throw InputError(
        fmt::format("{}: {} GPUs in the expert-parallel group; at most {}", s.file, n, (1 << kTagGpuBits) - 1));
  if (n > t.gpu_count())
    throw InputError(
        fmt::format("{}: parallelism.ep = {} but topology {} has only {} GPUs", s.file, n, t.name(), t.gpu_count()));
  return n;
}

std::unique_ptr<Gate> make_gate(const Scenario& s, int gpus, bool reuse) {
  const ModelSpec& m = s.model;
  check_group_limit(s.gate, m.routed_experts, m.top_k, s.file);
  if (!s.trace_path.empty()) {
    auto trace =
        std::make_unique<TraceGate>(s.trace_path, m.moe_layers(), m.routed_experts, m.top_k, gpus, s.workload.steps);
    trace->limit_groups(s.gate.groups, s.gate.groups_per_token);
    return trace;
  }
  auto gate = make_synthetic_gate(s.gate, m.routed_experts, m.top_k, m.moe_layers(), s.seed, gpus);
  if (reuse && s.gate.drift_per_step == 0)
    return std::make_unique<ReusedGate>(std::move(gate), s.gate.rank_locality > 0);
  return gate;
}

}  // namespace

int Simulation::ep_gpus(const Scenario& scenario, const Topology& topology) { return checked_gpus(scenario, topology); }

Simulation::Simulation(const Scenario& scenario, const Topology& topology, const Profile& profile,
                       const SimulationInputs& inputs)
    : scenario_(scenario),
      topology_(topology),
      profile_(profile),
      gpus_(checked_gpus(scenario, topology)),
      layers_(scenario.model.layers),
      moe_first_(scenario.model.dense_layers),
      kernel_(EpKernel::from_profile(profile, scenario.ep_kernel, scenario.file)),
      network_(inputs.network ? inputs.network(queue_, topology, kernel_.message_cost(profile))
                              : make_network(scenario.network_model, queue_, topology, kernel_.message_cost(profile),
                                             scenario.resolve_tolerance)),
      compute_(profile_, scenario_.model),
      gate_(make_gate(scenario, gpus_, inputs.reuse_routing)),
      capacity_(scenario.gate.capacity_factor, scenario.gate.capacity_policy, scenario.model.routed_experts,
                scenario.model.top_k),
      given_placement_(inputs.placement),
      placement_(build_placement(scenario_, *gate_, topology, gpus_, 0, given_placement_, notes_)) {
  network_->set_sink(this);
  control_ = inputs.control;
  mb_split_.assign(static_cast<std::size_t>(scenario_.microbatches()), 0);
  const std::size_t g = static_cast<std::size_t>(gpus_);
  stream_free_ps_.assign(g, 0);
  compute_factor_ = compute_factors(scenario_.faults, gpus_);
  down_ = down_gpus(scenario_.faults, gpus_);
  live_gpus_ = gpus_ - static_cast<int>(std::count(down_.begin(), down_.end(), 1));
  layout_.emplace(topology_, gpus_, down_);
  kernel_.check_group(*layout_, scenario_.file);
  fixed_ps_[0] = kernel_.fixed_ps(false, *layout_);
  fixed_ps_[1] = kernel_.fixed_ps(true, *layout_);
  comm_active_.assign(g, 0);
  const int sms = profile_.sms, kernel_sms = kernel_.params.sms;
  if (sms > 0 && kernel_sms > 0 && kernel_sms < sms) {
    sm_slowdown_ = static_cast<double>(sms) / (sms - kernel_sms);
    notes_.push_back(
        fmt::format("ep kernel {} holds {} of {} SMs while it runs: compute beside it takes {:.3g}x as long",
                    kernel_.name, kernel_sms, sms, sm_slowdown_));
  }
  if (scenario_.kernel_jitter) {
    for (int p = 0; p < kPhaseCount; ++p) jitter_cv_[static_cast<std::size_t>(p)] = compute_.jitter_cv(static_cast<Phase>(p));
    if (*std::max_element(jitter_cv_.begin(), jitter_cv_.end()) <= 0)
      throw InputError(fmt::format("{}: hardware.kernel_jitter needs a profile with measured kernel spreads "
                                   "([kernels] gate_cv, expert_cv, ...; the measured profiles have them): {} has none",
                                   scenario_.file, profile_.meta.device));
    jitter_ = true;
    jitter_rng_ = Rng::derived(scenario_.seed, 0x6a6974746572ULL /* "jitter" */);
  }
  planner_ = make_planner();
  gate_out_.resize(g);
  mb_view_.resize(g);
  const int moe_layers = scenario_.model.moe_layers();
  for (int i = 0; i < moe_layers * scenario_.microbatches(); ++i) state_.push_back(std::make_unique<LayerState>());
  set_batch(workload_batch(scenario_, gpus_));
  check_memory();
}

void Simulation::set_batch(const StepBatch& batch) {
  if (batch.ranks.size() != static_cast<std::size_t>(gpus_))
    throw InputError(fmt::format("{}: a batch for {} ranks on an expert-parallel group of {} GPUs", scenario_.file,
                                 batch.ranks.size(), gpus_));
  batch_ = batch;
  const auto g = static_cast<std::size_t>(gpus_);
  rank_tokens_.assign(g, 0);
  mb_tokens_.assign(mb_split_.size() * g, 0);
  mb_attention_ps_.assign(mb_split_.size() * g, 0);
  step_tokens_ = 0;
  for (std::size_t h = 0; h < g; ++h) {
    if (down_[h]) continue;
    const std::int64_t t = batch_tokens(batch_.ranks[h]);
    if (t > (1 << 24))
      throw InputError(fmt::format("{}: GPU {} has {} tokens in one step; at most {}", scenario_.file, h, t, 1 << 24));
    rank_tokens_[h] = static_cast<int>(t);
    step_tokens_ += t;
    const std::vector<RankBatch> parts = split_microbatches(batch_.ranks[h], static_cast<int>(mb_split_.size()));
    for (std::size_t mb = 0; mb < parts.size(); ++mb) {
      mb_tokens_[mb * g + h] = static_cast<int>(batch_tokens(parts[mb]));
      mb_attention_ps_[mb * g + h] = compute_.attention_ps(attention_work(parts[mb]));
    }
  }
}

Simulation::~Simulation() = default;

void Simulation::submit(int g, int mb, int layer, Phase phase, TimePs duration, std::int32_t pred,
                        void (Simulation::*next)(int, int, int, std::int32_t)) {
  const TimePs now = queue_.now_ps();
  TimePs& free = stream_free_ps_[static_cast<std::size_t>(g)];
  const TimePs start = std::max(now, free);
  // A slow GPU (faults), and the SMs an EP kernel running beside it holds.
  double factor = compute_factor_[static_cast<std::size_t>(g)] *
                  (comm_active_[static_cast<std::size_t>(g)] > 0 ? sm_slowdown_ : 1.0);
  // Run-to-run variation of the kernel (measured spread); never below half its time.
  if (jitter_) factor *= std::max(0.5, 1 + jitter_cv_[static_cast<std::size_t>(phase)] * jitter_rng_.normal());
  duration = round_ps(static_cast<double>(duration) * factor);  // saturates: durations stay <= kTimeLimitPs
  const TimePs end = start + duration;                          // both <= kTimeLimitPs: no overflow
  if (end >= kTimeLimitPs) [[unlikely]]
    throw TimeLimitError(
        fmt::format("GPU {} layer {}{} {}: a kernel of {:.6g} s would end past the limit of simulated "
                    "time (2^61 ps, about 26.7 days)",
                    g, layer, mb_count() > 1 ? fmt::format(" micro-batch {}", mb) : "", phase_name(phase),
                    static_cast<double>(duration) * 1e-12));
  free = end;
  TaskRec t;
  t.ready_ps = now;
  t.start_ps = start;
  t.end_ps = end;
  t.pred = pred;
  t.gpu = static_cast<std::int16_t>(g);
  t.layer = static_cast<std::int16_t>(layer);
  t.mb = static_cast<std::uint8_t>(mb);
  t.phase = phase;
  const std::int32_t id = log_.add(t);
  results_->gpus[static_cast<std::size_t>(g)].busy_ps[static_cast<int>(phase)] += duration;
  if (phase == Phase::experts)
    results_->gpu_layer_experts_ps[static_cast<std::size_t>(layer) * static_cast<std::size_t>(gpus_) +
                                   static_cast<std::size_t>(g)] += duration;
  if (record_spans_ && duration > 0)
    results_->timeline.push_back(Span{start, end, t.gpu, t.layer, t.mb, phase, fed_by(g, mb, layer, phase)});
  queue_.schedule(end, [this, g, mb, layer, id, next] { (this->*next)(g, mb, layer, id); });
}

void Simulation::start_layer(int g, int mb, int layer, std::int32_t pred) {
  submit(g, mb, layer, Phase::attention,
         mb_attention_ps_[static_cast<std::size_t>(mb) * static_cast<std::size_t>(gpus_) + static_cast<std::size_t>(g)],
         pred, &Simulation::after_attention);
}

void Simulation::after_attention(int g, int mb, int layer, std::int32_t task) {
  const int tokens = mb_tokens(mb, g);
  if (layer < moe_first_) {
    submit(g, mb, layer, Phase::dense_ffn, compute_.dense_ffn_ps(tokens), task, &Simulation::layer_done);
    return;
  }
  submit(g, mb, layer, Phase::gate, compute_.gate_ps(tokens, !scenario_.fuse_permute_reduce), task,
         &Simulation::after_gate);
}

int Simulation::state_slot(int mb, int layer) const { return mb * scenario_.model.moe_layers() + layer - moe_first_; }

LayerState& Simulation::state(int mb, int layer) const {
  return *state_[static_cast<std::size_t>(state_slot(mb, layer))];
}

void Simulation::after_gate(int g, int mb, int layer, std::int32_t task) {
  LayerState& st = state(mb, layer);
  const auto gi = static_cast<std::size_t>(g);
  st.gate_task[gi] = task;
  comm_begin(st.dispatch, g);
  // Shared experts go first on the compute stream: they overlap the dispatch in flight.
  if (scenario_.model.shared_experts > 0) {
    submit(g, mb, layer, Phase::shared_experts, compute_.shared_experts_ps(mb_tokens(mb, g)),
           task, &Simulation::after_shared);
  } else {
    st.shared_done[gi] = 1;
  }
  start_sends(Phase::dispatch, g, mb, layer, task);
  maybe_start_experts(g, mb, layer);
  maybe_reduce(g, mb, layer);
}

void Simulation::after_shared(int g, int mb, int layer, std::int32_t task) {
  LayerState& st = state(mb, layer);
  st.shared_task[static_cast<std::size_t>(g)] = task;
  st.shared_done[static_cast<std::size_t>(g)] = 1;
  maybe_reduce(g, mb, layer);
}

void Simulation::maybe_start_experts(int d, int mb, int layer) {
  LayerState& st = state(mb, layer);
  const auto di = static_cast<std::size_t>(d);
  // The receiver learns its counts with its own gate (layout exchange), so it waits for its own
  // gate and for every GPU that actually sends it tokens, no more.
  if (st.gate_task[di] < 0 || st.dispatch.waiting[di] || st.experts_started[di]) return;
  st.experts_started[di] = 1;
  const std::int32_t pred = log_.later(st.gate_task[di], st.dispatch.last[di]);
  submit(d, mb, layer, Phase::experts, compute_.experts_ps(st.slot_tokens[di]), pred, &Simulation::after_experts);
}

void Simulation::after_experts(int d, int mb, int layer, std::int32_t task) {
  comm_begin(state(mb, layer).combine, d);
  start_sends(Phase::combine, d, mb, layer, task);
}

void Simulation::maybe_reduce(int g, int mb, int layer) {
  LayerState& st = state(mb, layer);
  const auto gi = static_cast<std::size_t>(g);
  if (st.gate_task[gi] < 0 || !st.shared_done[gi] || st.combine.waiting[gi] || st.reduced[gi]) return;
  st.reduced[gi] = 1;
  const std::int64_t copies = st.copies_out[gi];
  const std::int32_t pred = log_.later(log_.later(st.gate_task[gi], st.shared_task[gi]), st.combine.last[gi]);
  // A fusing EP kernel reduced the copies as they arrived (its cost is in the kernel's figures).
  const TimePs reduce = scenario_.fuse_permute_reduce ? 0 : compute_.combine_ps(copies);
  submit(g, mb, layer, Phase::reduce, reduce, pred, &Simulation::layer_done);
}

void Simulation::layer_done(int g, int mb, int layer, std::int32_t task) {
  const auto gi = static_cast<std::size_t>(g);
  if (layer + 1 == layers_) {
    last_task_[gi] = log_.later(last_task_[gi], task);
    ++gpus_finished_;
    return;
  }
  if (!scenario_.layer_barrier) {
    start_layer(g, mb, layer + 1, task);
    return;
  }
  // Layer barrier: the last GPU to finish releases everyone.
  barrier_tasks_[static_cast<std::size_t>(mb) * static_cast<std::size_t>(gpus_) + gi] = task;
  if (++barrier_waiting_[static_cast<std::size_t>(mb)] < live_gpus_) return;
  barrier_waiting_[static_cast<std::size_t>(mb)] = 0;
  for (int h = 0; h < gpus_; ++h)
    if (!down_[static_cast<std::size_t>(h)]) start_layer(h, mb, layer + 1, task);
}

void Simulation::run_step(int step, Results& out, const RunControl::Clock::time_point& wall_start) {
  step_ = step;
  plan_step(step);
  log_.clear();
  network_->clear_declared();
  record_spans_ = step < scenario_.timeline_steps;
  const bool activity = step < scenario_.link_activity_steps;
  network_->record_link_activity(activity);
  const auto g = static_cast<std::size_t>(gpus_);
  last_task_.assign(g, -1);
  gpus_finished_ = 0;
  barrier_waiting_.assign(mb_split_.size(), 0);
  barrier_tasks_.assign(mb_split_.size() * g, -1);
  const TimePs start = queue_.now_ps();
  std::fill(stream_free_ps_.begin(), stream_free_ps_.end(), start);
  weights_moved_ps_ = start;
  move_weights();
  for (std::size_t mb = 0; mb < mb_split_.size(); ++mb)
    for (int h = 0; h < gpus_; ++h)
      if (!down_[static_cast<std::size_t>(h)]) start_layer(h, static_cast<int>(mb), 0, -1);
  if (!drain_events(step, out, wall_start)) return;

  const int expected = live_gpus_ * mb_count();
  if (gpus_finished_ != expected) throw Error(stall_report(step));
  StepResult sr;
  sr.step = step;
  sr.start_ps = start;
  sr.tokens = step_tokens_;
  std::int32_t last = -1;
  for (std::int32_t t : last_task_) last = log_.later(last, t);
  // A re-balance's weight transfers share the network with the step and must land within it.
  sr.end_ps = std::max(log_.at(last).end_ps, weights_moved_ps_);
  if (activity) out.link_activity_ps += sr.end_ps - sr.start_ps;
  out.steps.push_back(sr);
  record_critical_path(last, out);

  record_step_loads(out);
  const ModelSpec& m = scenario_.model;
  out.assignments += static_cast<std::uint64_t>(sr.tokens) * static_cast<std::uint64_t>(m.top_k) *
                     static_cast<std::uint64_t>(m.moe_layers());
}

void Simulation::init_results(Results& out) const {
  for (int h = 0; h < gpus_; ++h) {
    GpuResult gr;
    gr.gpu = h;
    gr.host = topology_.gpu_host(h);
    gr.domain = topology_.gpu_domain(h);
    out.gpus.push_back(gr);
  }
  for (int l = 0; l < layers_; ++l) {
    LayerResult lr;
    lr.layer = l;
    lr.moe = l >= moe_first_;
    lr.critical_gpu_ps.assign(static_cast<std::size_t>(gpus_), 0);
    out.layers.push_back(std::move(lr));
  }
  out.gpu_layer_received.assign(static_cast<std::size_t>(layers_) * static_cast<std::size_t>(gpus_), 0);
  out.gpu_layer_experts_ps.assign(out.gpu_layer_received.size(), 0);
  out.experts.resize(static_cast<std::size_t>(scenario_.model.moe_layers()) *
                     static_cast<std::size_t>(scenario_.model.routed_experts));
}

Results Simulation::run() {
  const auto wall_start = RunControl::Clock::now();
  Results out;
  results_ = &out;
  init_results(out);
  out.steps_requested = scenario_.workload.steps;
  for (int s = 0; s < scenario_.workload.steps && out.stopped == RunStop::none; ++s) {
    if (control_ && control_->interrupt && control_->interrupt->load(std::memory_order_relaxed)) {
      out.stopped = RunStop::interrupted;
      break;
    }
    if (control_ && RunControl::Clock::now() >= control_->deadline) {
      out.stopped = RunStop::timeout;
      break;
    }
    const int every = scenario_.rebalance_every_steps;
    if (every > 0 && s > 0 && s % every == 0) rebalance(s);
    try {
      run_step(s, out, wall_start);
    } catch (const TimeLimitError& e) {
      const std::string where = unfinished_report("in");
      throw TimeLimitError(fmt::format("{}: step {}: {}{}{}", scenario_.file, s, e.what(),
                                       where.empty() ? "" : "; unfinished: ", where));
    }
    if (out.stopped == RunStop::none) report_progress(out, wall_start);
  }
  finish_results(out);
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  results_ = nullptr;
  return out;
}

TimePs Simulation::run_one_step() {
  if (served_steps_ == 0) init_results(served_);
  results_ = &served_;
  const int s = served_steps_++;
  const int every = scenario_.rebalance_every_steps;
  if (every > 0 && s > 0 && s % every == 0) rebalance(s);
  try {
    run_step(s, served_, RunControl::Clock::now());
  } catch (const TimeLimitError& e) {
    const std::string where = unfinished_report("in");
    throw TimeLimitError(fmt::format("{}: served step {}: {}{}{}", scenario_.file, s, e.what(),
                                     where.empty() ? "" : "; unfinished: ", where));
  }
  results_ = nullptr;
  if (served_.stopped != RunStop::none || served_.steps.empty())
    throw Error(fmt::format("{}: served step {} stopped before it finished", scenario_.file, s));
  return served_.steps.back().step_ps();
}

Results Simulation::served_results() {
  if (served_steps_ == 0) init_results(served_);
  Results out = served_;
  out.steps_requested = static_cast<int>(out.steps.size());
  finish_results(out);
  return out;
}

void Simulation::finish_results(Results& out) {
  network_->clear_declared();
  record_expert_hosts(out);
  // Spans are recorded when known, which for network phases can be before they end: order them.
  std::stable_sort(out.timeline.begin(), out.timeline.end(), [](const Span& a, const Span& b) {
    return a.start_ps != b.start_ps ? a.start_ps < b.start_ps : a.gpu < b.gpu;
  });

  out.total_ps = queue_.now_ps();
  out.events = queue_.executed();
  out.flows = network_->flows_completed();
  out.rate_solves = network_->rate_solves();
  record_links(out);
  std::string src;
  const bool fused = scenario_.fuse_permute_reduce;
  for (Phase p :
       {Phase::attention, Phase::dense_ffn, Phase::gate, Phase::experts, Phase::shared_experts, Phase::combine}) {
    std::string how = fused && p == Phase::combine ? "fused into the EP combine" : compute_.source(p);
    if (fused && p == Phase::gate) how += " (permute fused into dispatch)";
    src += fmt::format("{}{}={}", src.empty() ? "" : ", ", phase_name(p), how);
  }
  out.compute_sources = src;
  out.ep_kernel = fmt::format("{} ({})", kernel_.name, setting_name(kernel_.mode()));
  out.memory_expert_bytes_max = memory_.expert_bytes[static_cast<std::size_t>(memory_.fullest_gpu())];
  out.memory_replicated_bytes = memory_.replicated_bytes;
  out.memory_kv_bytes = memory_.kv_bytes;
  out.memory_capacity_bytes = memory_capacity_bytes_;
  out.notes = notes_;
  out.weight_bytes_moved = weight_bytes_moved_;
  if (const auto* trace = dynamic_cast<const TraceGate*>(gate_.get()))
    out.notes.insert(out.notes.end(), trace->notes().begin(), trace->notes().end());
}

}  // namespace moesim
