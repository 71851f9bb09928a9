// Per-layer step bookkeeping (see layer_state.hpp).
#include "engine/layer_state.hpp"

namespace moesim {

void Collective::reset() {
  const auto g = static_cast<std::size_t>(plan.gpus());
  first_id = -1;
  pending.assign(plan.awaited.begin(), plan.awaited.end());
  waiting.resize(g);
  for (std::size_t d = 0; d < g; ++d) waiting[d] = pending[d] > 0 ? 1 : 0;
  latest.assign(g, Arrival{});
  last.assign(g, -1);
  out_pending.resize(g);
  for (std::size_t s = 0; s < g; ++s)
    out_pending[s] = plan.sender_first[s + 1] - plan.sender_first[s] + (plan.local_bytes[s] > 0 ? 1 : 0);
  out_last_ps.assign(g, -1);
  send_start_ps.assign(g, -1);
  send_pred.assign(g, -1);
  running.assign(g, 0);
}

namespace {
// "GPUs 3, 7" for the senders whose flows `dst` waits for in `c` but that never started sending.
std::string silent_senders(const Collective& c, int dst) {
  std::vector<char> silent(c.send_start_ps.size(), 0);
  for (std::size_t f = 0; f < c.plan.flows.size(); ++f) {
    const int src = c.plan.flows[f].src_gpu;
    if (c.send_start_ps[static_cast<std::size_t>(src)] >= 0) continue;
    c.plan.for_each_waiter(f, [&](int w) {
      if (w == dst) silent[static_cast<std::size_t>(src)] = 1;
    });
  }
  std::string list;
  int n = 0;
  for (std::size_t s = 0; s < silent.size(); ++s) {
    if (!silent[s]) continue;
    if (n++ < 8) list += (list.empty() ? "" : ", ") + std::to_string(s);
  }
  if (n == 0) return "every sender started; deliveries never arrived";
  return "never sent by GPU" + std::string(n > 1 ? "s " : " ") + list + (n > 8 ? ", ..." : "");
}
}  // namespace

std::string LayerState::stuck_phase(int g) const {
  const auto i = static_cast<std::size_t>(g);
  if (reduced[i]) return "";
  if (gate_task[i] < 0) return "attention/gate (never reached this layer's gate)";
  if (dispatch.waiting[i])
    return "dispatch (" + std::to_string(dispatch.pending[i]) +
           " arrivals outstanding: " + silent_senders(dispatch, g) + ")";
  if (!experts_started[i]) return "experts (never started)";
  if (combine.waiting[i])
    return "combine (" + std::to_string(combine.pending[i]) + " results outstanding: " + silent_senders(combine, g) +
           ")";
  if (!shared_done[i]) return "shared experts (never finished)";
  return "reduce (never ran)";
}

void LayerState::reset(const LayerTraffic& traffic, EpMode mode, const EpLayout& layout, double dispatch_bytes_per_copy,
                       double combine_bytes_per_copy, bool pxn) {
  const auto g = static_cast<std::size_t>(layout.gpus());
  slot_tokens.resize(g);
  for (std::size_t h = 0; h < g; ++h)
    slot_tokens[h].assign(traffic.slot_tokens[h].begin(), traffic.slot_tokens[h].end());
  received.assign(traffic.received.begin(), traffic.received.end());
  expert_load.assign(traffic.expert_load.begin(), traffic.expert_load.end());
  copies_out.assign(g, 0);
  for (std::size_t s = 0; s < g; ++s)
    for (std::size_t d = 0; d < g; ++d) copies_out[s] += traffic.copies[s * g + d];
  plan_collective(mode, false, layout, traffic, dispatch_bytes_per_copy, dispatch.plan, pxn);
  plan_collective(mode, true, layout, traffic, combine_bytes_per_copy, combine.plan, pxn);
  dispatch.reset();
  combine.reset();
  gate_task.assign(g, -1);
  shared_task.assign(g, -1);
  shared_done.assign(g, 0);
  experts_started.assign(g, 0);
  reduced.assign(g, 0);
}

}  // namespace moesim
