// Simulation, continued: what a step reports once it has run (critical path, loads per layer and
// GPU) or why it could not finish. Same class as simulation.cpp, split to keep files short.
#include <fmt/format.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "engine/simulation.hpp"

namespace moesim {

// The event queue ran dry before every GPU finished: name the earliest layer where GPUs are stuck
// (later layers only wait on it), the GPUs and the phase each is stuck in.
std::string Simulation::unfinished_report(std::string_view verb) const {
  const int moe_layers = scenario_.model.moe_layers();
  for (int ml = 0; ml < moe_layers; ++ml)
    for (std::size_t mb = 0; mb < mb_split_.size(); ++mb) {
      const LayerState& st = state(static_cast<int>(mb), moe_first_ + ml);
      // GPUs waiting on data first (the cause), then those waiting on them.
      std::vector<std::pair<int, std::string>> stuck;
      for (int g = 0; g < gpus_; ++g) {
        if (down_[static_cast<std::size_t>(g)]) continue;
        std::string phase = st.stuck_phase(g);
        if (phase.empty()) continue;
        int rank = 0;
        for (const char* p : {"dispatch", "experts", "combine", "shared", "reduce", "attention"})
          if (phase.rfind(p, 0) != 0)
            ++rank;
          else
            break;
        stuck.emplace_back(rank * gpus_ + g, fmt::format("\n  GPU {}: {}", g, phase));
      }
      if (stuck.empty()) continue;
      std::stable_sort(stuck.begin(), stuck.end());
      const int n = static_cast<int>(stuck.size());
      std::string text;
      for (int i = 0; i < std::min(n, 4); ++i) text += stuck[static_cast<std::size_t>(i)].second;
      return fmt::format("{} GPU(s) {} MoE layer {}{}{}:{}{}", n, verb, moe_first_ + ml,
                         mb_count() > 1 ? " micro-batch " : "", mb_count() > 1 ? std::to_string(mb) : "",
                         text, n > 4 ? "\n  ..." : "");
    }
  return "";
}

std::string Simulation::stall_report(int step) const {
  const std::string where = unfinished_report("never finished");
  return fmt::format("simulation stalled in step {}: no event left but {}", step,
                     where.empty() ? "not every GPU finished its last layer" : where);
}

void Simulation::record_critical_path(std::int32_t last, Results& out) {
  StepResult& sr = out.steps.back();
  const std::vector<std::int32_t> chain = log_.chain(last);
  if (link_critical_ps_.empty()) link_critical_ps_.assign(static_cast<std::size_t>(topology_.link_count()), 0);
  log_.attribute(chain, sr.start_ps, [&](const TaskRec& t, Phase p, TimePs ps) {
    sr.critical_ps[static_cast<int>(p)] += ps;
    LayerResult& lr = out.layers[static_cast<std::size_t>(t.layer)];
    lr.critical_ps[static_cast<int>(p)] += ps;
    // The GPU that held the others up: the one whose tasks (or sends) the time went to.
    lr.critical_gpu_ps[static_cast<std::size_t>(t.gpu)] += ps;
    out.gpus[static_cast<std::size_t>(t.gpu)].critical_ps[static_cast<int>(p)] += ps;
    // A network segment's run time goes to the link that bounded its flow.
    if (t.flow_id >= 0 && p == t.phase)
      if (const std::int32_t link = network_->bottleneck_of(t.flow_id); link >= 0)
        link_critical_ps_[static_cast<std::size_t>(link)] += ps;
  });
  // Which link held each layer up.
  std::vector<Bytes> load(static_cast<std::size_t>(topology_.link_count()));
  std::vector<char> on_path(load.size(), 0);  // only the critical flow's links are summed
  for (std::int32_t id : chain) {
    const TaskRec& t = log_.at(id);
    LayerResult& lr = out.layers[static_cast<std::size_t>(t.layer)];
    if (t.flow_id < 0) continue;
    // Bytes that the flow's collective put on each link of the flow's path.
    const LayerState& st = state(t.mb, t.layer);
    const Collective& c = st.collective(t.phase);
    const std::span<const std::int32_t> path = network_->path_of(t.flow_id);
    for (int l : path) on_path[static_cast<std::size_t>(l)] = 1;
    for (std::size_t i = 0; i < c.plan.flows.size(); ++i)
      for (int l : network_->path_of(c.first_id + static_cast<std::int64_t>(i)))
        if (on_path[static_cast<std::size_t>(l)]) load[static_cast<std::size_t>(l)] += c.plan.flows[i].bytes;
    for (int l : path) {
      on_path[static_cast<std::size_t>(l)] = 0;
      if (load[static_cast<std::size_t>(l)] <= lr.critical_link_bytes) continue;
      lr.critical_link_bytes = load[static_cast<std::size_t>(l)];
      const Link& link = topology_.link(l);
      lr.critical_link = topology_.node(link.from).name + "->" + topology_.node(link.to).name;
    }
    for (int l : path) load[static_cast<std::size_t>(l)] = Bytes{};
  }
}

// Per link: bytes, activity and critical-path time, at the end of the run.
void Simulation::record_links(Results& out) const {
  const std::vector<LinkActivity> activity = network_->link_activity();
  for (int l = 0; l < topology_.link_count(); ++l) {
    const Link& link = topology_.link(l);
    const auto i = static_cast<std::size_t>(l);
    LinkResult lr{l,
                  topology_.node(link.from).name,
                  topology_.node(link.to).name,
                  link.link_class,
                  link.bandwidth,
                  network_->link_bytes()[i]};
    lr.busy_ps = activity[i].busy_ps;
    lr.peak_occupancy = activity[i].peak_occupancy;
    lr.critical_ps = i < link_critical_ps_.size() ? link_critical_ps_[i] : 0;
    out.links.push_back(std::move(lr));
  }
}

// Per-layer and per-GPU load figures from the step's plan.
void Simulation::record_step_loads(Results& out) {
  const auto g = static_cast<std::size_t>(gpus_);
  const ModelSpec& m = scenario_.model;
  std::vector<std::int64_t> received(g);
  for (int ml = 0; ml < m.moe_layers(); ++ml) {
    LayerResult& lr = out.layers[static_cast<std::size_t>(moe_first_ + ml)];
    std::fill(received.begin(), received.end(), 0);
    for (std::size_t mb = 0; mb < mb_split_.size(); ++mb) {
      const LayerState& st = state(static_cast<int>(mb), moe_first_ + ml);
      for (std::size_t h = 0; h < g; ++h) received[h] += st.received[h];
      // Every planned flow was delivered (else the step stalled), so the totals come from the plan.
      for (auto [c, total] : {std::pair{&st.dispatch, &lr.dispatch_bytes}, std::pair{&st.combine, &lr.combine_bytes}})
        for (const FlowDecl& f : c->plan.flows) {
          *total += f.bytes;
          out.gpus[static_cast<std::size_t>(f.src_gpu)].bytes_sent += f.bytes;
          out.gpus[static_cast<std::size_t>(f.dst_gpu)].bytes_received += f.bytes;
        }
    }
    const std::size_t row = static_cast<std::size_t>(moe_first_ + ml) * g;
    for (std::size_t h = 0; h < g; ++h) {
      out.gpu_layer_received[row + h] += received[h];
      out.gpus[h].received += received[h];
      lr.received_total += received[h];
    }
    lr.received_max_sum += *std::max_element(received.begin(), received.end());
    record_expert_loads(ml, out);
  }
}

}  // namespace moesim
