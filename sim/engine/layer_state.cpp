// Per-layer step bookkeeping (see layer_state.hpp).
#include "engine/layer_state.hpp"

namespace moesim {

void Collective::clear(int gpus) {
  const auto g = static_cast<std::size_t>(gpus);
  first_id = -1;
  pair.assign(g * g, -1);
  flows.clear();
  pending.assign(g, 0);
  latest.assign(g, Arrival{});
  last.assign(g, -1);
  out_pending.assign(g, 0);
  out_last_ps.assign(g, -1);
  send_start_ps.assign(g, -1);
  send_pred.assign(g, -1);
}

void Collective::add(int from, int to, double bytes) {
  ++pending[static_cast<std::size_t>(to)];
  ++out_pending[static_cast<std::size_t>(from)];
  if (from == to) return;
  const std::size_t gpus = pending.size();  // sized by clear()
  pair[static_cast<std::size_t>(from) * gpus + static_cast<std::size_t>(to)] = static_cast<std::int32_t>(flows.size());
  flows.push_back(FlowDecl{from, to, Bytes(bytes)});
}

void Collective::close() {
  waiting.resize(pending.size());
  for (std::size_t d = 0; d < waiting.size(); ++d) waiting[d] = pending[d] > 0 ? 1 : 0;
}

namespace {
// "GPUs 3, 7" for the senders that owe `dst` data in `c` but never started sending.
std::string silent_senders(const Collective& c, const LayerTraffic& traffic, int dst, int gpus, bool reverse) {
  std::string list;
  int n = 0;
  for (int s = 0; s < gpus; ++s) {
    const std::int64_t copies = reverse ? traffic.copies_from(dst, s) : traffic.copies_from(s, dst);
    if (copies == 0 || c.send_start_ps[static_cast<std::size_t>(s)] >= 0) continue;
    if (n++ < 8) list += (list.empty() ? "" : ", ") + std::to_string(s);
  }
  if (n == 0) return "every sender started; deliveries never arrived";
  return "never sent by GPU" + std::string(n > 1 ? "s " : " ") + list + (n > 8 ? ", ..." : "");
}
}  // namespace

std::string LayerState::stuck_phase(int g, int gpus) const {
  const auto i = static_cast<std::size_t>(g);
  if (reduced[i]) return "";
  if (gate_task[i] < 0) return "attention/gate (never reached this layer's gate)";
  if (dispatch.waiting[i])
    return "dispatch (" + std::to_string(dispatch.pending[i]) +
           " arrivals outstanding: " + silent_senders(dispatch, traffic, g, gpus, false) + ")";
  if (!experts_started[i]) return "experts (never started)";
  if (combine.waiting[i])
    return "combine (" + std::to_string(combine.pending[i]) +
           " results outstanding: " + silent_senders(combine, traffic, g, gpus, true) + ")";
  if (!shared_done[i]) return "shared experts (never finished)";
  return "reduce (never ran)";
}

void LayerState::reset(int gpus, double dispatch_bytes_per_copy, double combine_bytes_per_copy) {
  const auto g = static_cast<std::size_t>(gpus);
  // Both collectives from one pass over the copy matrix: dispatch sends src -> dst and combine
  // the same copies back, dst -> src; each lists its flows in the order of the pass.
  dispatch.clear(gpus);
  combine.clear(gpus);
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d) {
      const std::int64_t n = traffic.copies_from(s, d);
      if (n == 0) continue;
      dispatch.add(s, d, static_cast<double>(n) * dispatch_bytes_per_copy);
      combine.add(d, s, static_cast<double>(n) * combine_bytes_per_copy);
    }
  dispatch.close();
  combine.close();
  gate_task.assign(g, -1);
  shared_task.assign(g, -1);
  shared_done.assign(g, 0);
  experts_started.assign(g, 0);
  reduced.assign(g, 0);
}

}  // namespace moesim
