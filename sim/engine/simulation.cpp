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
#include "moe/group_routing.hpp"
#include "moe/trace_gate.hpp"

namespace moesim {

namespace {
// A flow's network tag: its collective's index and its index in the collective's plan.
std::uint64_t flow_tag(int index, std::int32_t flow) {
  return static_cast<std::uint32_t>(index) | static_cast<std::uint64_t>(static_cast<std::uint32_t>(flow)) << 32;
}
constexpr int kTagGpuBits = 16;  // task records carry GPU ids in 16 bits

int checked_gpus(const Scenario& s, const Topology& t) {
  const int n = s.ep_size == 0 ? t.gpu_count() : s.ep_size;
  if (n >= (1 << kTagGpuBits))  // the loaders allow far fewer; flow tags carry GPU ids in 16 bits
    throw InputError(
        fmt::format("{}: {} GPUs in the expert-parallel group; at most {}", s.file, n, (1 << kTagGpuBits) - 1));
  if (n > t.gpu_count())
    throw InputError(
        fmt::format("{}: parallelism.ep = {} but topology {} has only {} GPUs", s.file, n, t.name(), t.gpu_count()));
  return n;
}

std::unique_ptr<Gate> make_gate(const Scenario& s, int gpus) {
  const ModelSpec& m = s.model;
  check_group_limit(s.gate, m.routed_experts, m.top_k, s.file);
  if (!s.trace_path.empty()) {
    auto trace =
        std::make_unique<TraceGate>(s.trace_path, m.moe_layers(), m.routed_experts, m.top_k, gpus, s.workload.steps);
    trace->limit_groups(s.gate.groups, s.gate.groups_per_token);
    return trace;
  }
  return make_synthetic_gate(s.gate, m.routed_experts, m.top_k, m.moe_layers(), s.seed, gpus);
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
      gate_(make_gate(scenario, gpus_)),
      capacity_(scenario.gate.capacity_factor, scenario.gate.capacity_policy, scenario.model.routed_experts,
                scenario.model.top_k),
      given_placement_(inputs.placement),
      placement_(build_placement(scenario_, *gate_, topology, gpus_, 0, given_placement_, notes_)) {
  network_->set_sink(this);
  const int t = scenario_.workload.tokens_per_gpu;
  mb_tokens_ = scenario_.microbatches() == 2 ? std::vector<int>{(t + 1) / 2, t / 2} : std::vector<int>{t};
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
  planner_ = make_planner();
  gate_out_.resize(g);
  mb_view_.resize(g);
  const int moe_layers = scenario_.model.moe_layers();
  for (int i = 0; i < moe_layers * scenario_.microbatches(); ++i) state_.push_back(std::make_unique<LayerState>());
  check_memory();
}

Simulation::~Simulation() = default;

void Simulation::submit(int g, int mb, int layer, Phase phase, TimePs duration, std::int32_t pred,
                        void (Simulation::*next)(int, int, int, std::int32_t)) {
  const TimePs now = queue_.now_ps();
  TimePs& free = stream_free_ps_[static_cast<std::size_t>(g)];
  const TimePs start = std::max(now, free);
  // A slow GPU (faults), and the SMs an EP kernel running beside it holds.
  const double factor = compute_factor_[static_cast<std::size_t>(g)] *
                        (comm_active_[static_cast<std::size_t>(g)] > 0 ? sm_slowdown_ : 1.0);
  duration = static_cast<TimePs>(std::llround(static_cast<double>(duration) * factor));
  const TimePs end = start + duration;
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
  if (record_spans_ && duration > 0) results_->timeline.push_back(Span{start, end, t.gpu, t.layer, t.mb, phase});
  queue_.schedule(end, [this, g, mb, layer, id, next] { (this->*next)(g, mb, layer, id); });
}

void Simulation::start_layer(int g, int mb, int layer, std::int32_t pred) {
  submit(g, mb, layer, Phase::attention,
         compute_.attention_ps(mb_tokens_[static_cast<std::size_t>(mb)], scenario_.workload.phase,
                               scenario_.workload.kv_len),
         pred, &Simulation::after_attention);
}

void Simulation::after_attention(int g, int mb, int layer, std::int32_t task) {
  const int tokens = mb_tokens_[static_cast<std::size_t>(mb)];
  if (layer < moe_first_) {
    submit(g, mb, layer, Phase::dense_ffn, compute_.dense_ffn_ps(tokens), task, &Simulation::layer_done);
    return;
  }
  submit(g, mb, layer, Phase::gate, compute_.gate_ps(tokens), task, &Simulation::after_gate);
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
    submit(g, mb, layer, Phase::shared_experts, compute_.shared_experts_ps(mb_tokens_[static_cast<std::size_t>(mb)]),
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

void Simulation::start_sends(Phase phase, int src, int mb, int layer, std::int32_t pred) {
  Collective& c = state(mb, layer).collective(phase);
  const auto s = static_cast<std::size_t>(src);
  const TimePs now = queue_.now_ps();
  c.send_start_ps[s] = now;
  c.send_pred[s] = pred;
  const int slot = state_slot(mb, layer);
  const TimePs begin = now + fixed_ps_[phase == Phase::combine];
  if (c.plan.local_bytes[s] > 0) {  // tokens for its own experts: an HBM copy, no network
    const TimePs at = begin + compute_.local_copy_ps(Bytes(c.plan.local_bytes[s]));
    note_sent(phase, src, slot, at);
    note_arrival(phase, src, src, slot, at, -1);
  }
  if (c.plan.sender_first[s] == c.plan.sender_first[s + 1]) return;
  if (begin == now) {
    start_flows(phase, src, slot);
    return;
  }
  queue_.schedule(begin, [this, phase, src, slot] { start_flows(phase, src, slot); });
}

void Simulation::comm_begin(Collective& c, int g) {
  if (sm_slowdown_ <= 1) return;
  const auto gi = static_cast<std::size_t>(g);
  c.running[gi] = 3;
  ++comm_active_[gi];
  if (c.out_pending[gi] == 0) comm_end(c, g, 1);  // nothing to send
  if (!c.waiting[gi]) comm_end(c, g, 2);          // nothing (left) to receive
}

void Simulation::comm_end(Collective& c, int g, std::uint8_t side) {
  std::uint8_t& r = c.running[static_cast<std::size_t>(g)];
  if (!(r & side)) return;
  r = static_cast<std::uint8_t>(r & ~side);
  if (r == 0) --comm_active_[static_cast<std::size_t>(g)];
}

void Simulation::start_flows(Phase phase, int src, int slot) {
  Collective& c = state_[static_cast<std::size_t>(slot)]->collective(phase);
  const int index = slot * 2 + (phase == Phase::combine);
  if (c.first_id < 0) {
    const int moe_layers = scenario_.model.moe_layers();
    const int mb = slot / moe_layers, layer = slot % moe_layers + moe_first_;
    const auto salt = static_cast<std::uint64_t>(((step_ * layers_ + layer) * 2 + mb) * 2 + (phase == Phase::combine));
    c.first_id = network_->declare(c.plan.flows, salt, c.plan.efficiency_size);
  }
  const auto s = static_cast<std::size_t>(src);
  for (std::int32_t f = c.plan.sender_first[s]; f < c.plan.sender_first[s + 1]; ++f)
    network_->start(c.first_id + f, flow_tag(index, f));
}

void Simulation::delivered(std::int64_t flow_id, std::uint64_t tag, TimePs at_ps) {
  const auto collective = static_cast<int>(tag & 0xffffffffu);  // see flow_tag()
  const auto f = static_cast<std::size_t>(tag >> 32);
  const Phase phase = collective % 2 ? Phase::combine : Phase::dispatch;
  const int slot = collective / 2;
  const CollectivePlan& plan = state_[static_cast<std::size_t>(slot)]->collective(phase).plan;
  const int src = plan.flows[f].src_gpu;
  note_sent(phase, src, slot, at_ps);
  plan.for_each_waiter(f, [&](int w) { note_arrival(phase, src, w, slot, at_ps, flow_id); });
}

void Simulation::note_sent(Phase phase, int src, int slot, TimePs at_ps) {
  Collective& c = state_[static_cast<std::size_t>(slot)]->collective(phase);
  const auto s = static_cast<std::size_t>(src);
  c.out_last_ps[s] = std::max(c.out_last_ps[s], at_ps);
  if (--c.out_pending[s] != 0) return;
  if (c.running[s] & 1)  // its SMs are busy until the last of its sends has landed
    queue_.schedule(std::max(queue_.now_ps(), c.out_last_ps[s]), [this, &c, src] { comm_end(c, src, 1); });
  // The sender's side of the phase is complete.
  const TimePs begin = c.send_start_ps[s];
  results_->gpus[s].busy_ps[static_cast<int>(phase)] += c.out_last_ps[s] - begin;
  if (record_spans_) {
    const int moe_layers = scenario_.model.moe_layers();
    results_->timeline.push_back(Span{begin, c.out_last_ps[s], static_cast<std::int16_t>(src),
                                      static_cast<std::int16_t>(slot % moe_layers + moe_first_),
                                      static_cast<std::uint8_t>(slot / moe_layers), phase});
  }
}

void Simulation::note_arrival(Phase phase, int src, int dst, int slot, TimePs at_ps, std::int64_t flow_id) {
  Collective& c = state_[static_cast<std::size_t>(slot)]->collective(phase);
  const auto d = static_cast<std::size_t>(dst);
  Arrival& latest = c.latest[d];
  if (at_ps > latest.at_ps) latest = Arrival{at_ps, flow_id, src};
  if (--c.pending[d] == 0) {
    const int moe_layers = scenario_.model.moe_layers();
    const int mb = slot / moe_layers, layer = slot % moe_layers + moe_first_;
    queue_.schedule(latest.at_ps, [this, phase, dst, mb, layer] { arrivals_landed(phase, dst, mb, layer); });
  }
}

void Simulation::arrivals_landed(Phase phase, int dst, int mb, int layer) {
  LayerState& st = state(mb, layer);
  Collective& c = st.collective(phase);
  const auto d = static_cast<std::size_t>(dst);
  c.waiting[d] = 0;
  comm_end(c, dst, 2);
  // Only the latest arrival can be on the critical path, so only it enters the task log.
  const Arrival& a = c.latest[d];
  const auto s = static_cast<std::size_t>(a.src);
  TaskRec t;
  t.ready_ps = c.send_start_ps[s];
  t.start_ps = c.send_start_ps[s];
  t.end_ps = a.at_ps;
  t.pred = c.send_pred[s];
  t.gpu = static_cast<std::int16_t>(a.src);
  t.peer = static_cast<std::int16_t>(dst);
  t.layer = static_cast<std::int16_t>(layer);
  t.mb = static_cast<std::uint8_t>(mb);
  t.phase = phase;
  t.flow_id = a.flow_id;
  c.last[d] = log_.add(t);
  if (phase == Phase::dispatch)
    maybe_start_experts(dst, mb, layer);
  else
    maybe_reduce(dst, mb, layer);
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
  submit(g, mb, layer, Phase::reduce, compute_.combine_ps(copies), pred, &Simulation::layer_done);
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

void Simulation::run_step(int step, Results& out) {
  step_ = step;
  plan_step(step);
  log_.clear();
  network_->clear_declared();
  record_spans_ = step < scenario_.timeline_steps;
  const auto g = static_cast<std::size_t>(gpus_);
  last_task_.assign(g, -1);
  gpus_finished_ = 0;
  barrier_waiting_.assign(mb_tokens_.size(), 0);
  barrier_tasks_.assign(mb_tokens_.size() * g, -1);
  const TimePs start = queue_.now_ps();
  std::fill(stream_free_ps_.begin(), stream_free_ps_.end(), start);
  weights_moved_ps_ = start;
  move_weights();
  for (std::size_t mb = 0; mb < mb_tokens_.size(); ++mb)
    for (int h = 0; h < gpus_; ++h)
      if (!down_[static_cast<std::size_t>(h)]) start_layer(h, static_cast<int>(mb), 0, -1);
  queue_.run();

  const int expected = live_gpus_ * static_cast<int>(mb_tokens_.size());
  if (gpus_finished_ != expected) throw Error(stall_report(step));
  StepResult sr;
  sr.step = step;
  sr.start_ps = start;
  sr.tokens = static_cast<std::int64_t>(scenario_.workload.tokens_per_gpu) * live_gpus_;
  std::int32_t last = -1;
  for (std::int32_t t : last_task_) last = log_.later(last, t);
  // A re-balance's weight transfers share the network with the step and must land within it.
  sr.end_ps = std::max(log_.at(last).end_ps, weights_moved_ps_);
  out.steps.push_back(sr);
  record_critical_path(last, out);

  record_step_loads(out);
  const ModelSpec& m = scenario_.model;
  out.assignments += static_cast<std::uint64_t>(sr.tokens) * static_cast<std::uint64_t>(m.top_k) *
                     static_cast<std::uint64_t>(m.moe_layers());
}

Results Simulation::run() {
  const auto wall_start = std::chrono::steady_clock::now();
  Results out;
  results_ = &out;
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
    lr.critical_gpu_count.assign(static_cast<std::size_t>(gpus_), 0);
    out.layers.push_back(std::move(lr));
  }
  out.gpu_layer_received.assign(static_cast<std::size_t>(layers_) * static_cast<std::size_t>(gpus_), 0);
  out.gpu_layer_experts_ps.assign(out.gpu_layer_received.size(), 0);
  out.experts.resize(static_cast<std::size_t>(scenario_.model.moe_layers()) *
                     static_cast<std::size_t>(scenario_.model.routed_experts));
  for (int s = 0; s < scenario_.workload.steps; ++s) {
    const int every = scenario_.rebalance_every_steps;
    if (every > 0 && s > 0 && s % every == 0) rebalance(s);
    run_step(s, out);
  }
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
  for (int l = 0; l < topology_.link_count(); ++l) {
    const Link& link = topology_.link(l);
    out.links.push_back(LinkResult{l, topology_.node(link.from).name, topology_.node(link.to).name, link.link_class,
                                   link.bandwidth, network_->link_bytes()[static_cast<std::size_t>(l)]});
  }
  std::string src;
  for (Phase p :
       {Phase::attention, Phase::dense_ffn, Phase::gate, Phase::experts, Phase::shared_experts, Phase::combine})
    src += fmt::format("{}{}={}", src.empty() ? "" : ", ", phase_name(p), compute_.source(p));
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
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  results_ = nullptr;
  return out;
}

}  // namespace moesim
