// Simulation, continued: each GPU's part of a dispatch or combine as the EP kernel's collective
// plan has it (flows started after the kernel's fixed cost, deliveries fanned out to the GPUs
// that wait for them) and the SMs the kernel holds meanwhile. Same class as simulation.cpp.
#include <algorithm>

#include "engine/simulation.hpp"

namespace moesim {

namespace {
// A flow's network tag: its collective's index and its index in the collective's plan.
std::uint64_t flow_tag(int index, std::int32_t flow) {
  return static_cast<std::uint32_t>(index) | static_cast<std::uint64_t>(static_cast<std::uint32_t>(flow)) << 32;
}
}  // namespace

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
                                      static_cast<std::uint8_t>(slot / moe_layers), phase, -1});
  }
}

std::int16_t Simulation::fed_by(int g, int mb, int layer, Phase phase) const {
  if (phase != Phase::experts) return -1;
  return static_cast<std::int16_t>(state(mb, layer).dispatch.latest[static_cast<std::size_t>(g)].src);
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

}  // namespace moesim
