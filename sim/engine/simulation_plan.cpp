// Simulation, continued: a step's routing plan (gate -> expert capacity -> traffic per layer and
// micro-batch) and the per-expert loads it reports. Same class as simulation.cpp, split to keep
// files short.
#include <fmt/format.h>

#include "engine/simulation.hpp"

namespace moesim {

void Simulation::plan_step(int step) {
  const ModelSpec& m = scenario_.model;
  const int k = m.top_k;
  const auto g = static_cast<std::size_t>(gpus_);
  for (int ml = 0; ml < m.moe_layers(); ++ml) {
    for (int src = 0; src < gpus_; ++src) {  // a down GPU holds no tokens
      auto& out = gate_out_[static_cast<std::size_t>(src)];
      if (down_[static_cast<std::size_t>(src)])
        out.clear();
      else
        gate_->assign(step, ml, src, rank_tokens_[static_cast<std::size_t>(src)], out);
    }
    if (mb_count() == 1) {  // one micro-batch: the whole gate output, no copy
      plan_layer(0, ml, gate_out_);
      continue;
    }
    for (int mb = 0; mb < mb_count(); ++mb) {
      for (std::size_t src = 0; src < g; ++src) {
        // Micro-batch 1 takes the tokens after micro-batch 0's on every GPU.
        const std::ptrdiff_t offset = mb == 0 ? 0 : mb_tokens(0, static_cast<int>(src));
        const auto begin = gate_out_[src].begin() + offset * k;
        if (down_[src])
          mb_view_[src].clear();
        else
          mb_view_[src].assign(begin, begin + static_cast<std::ptrdiff_t>(mb_tokens(mb, static_cast<int>(src))) * k);
      }
      plan_layer(mb, ml, mb_view_);
    }
  }
}

void Simulation::plan_layer(int mb, int ml, std::vector<std::vector<int>>& picks) {
  const ModelSpec& m = scenario_.model;
  LayerState& st = state(mb, moe_first_ + ml);
  const std::vector<std::int64_t>* pad = nullptr;
  if (capacity_.on()) {  // the gate's scratch output is ours to mark
    capacity_.apply(picks, st.capacity);
    if (capacity_.policy() == CapacityPolicy::pad) pad = &st.capacity.pad_slots;
  }
  planner_->plan(ml, picks, m.top_k, traffic_, pad);
  st.reset(traffic_, kernel_.mode(), *layout_, m.dispatch_bytes_per_token(), m.combine_bytes_per_token(),
           kernel_.params.pxn);
}

// Routed, kept, dropped and padded assignments of MoE layer ml's experts in the step just run.
void Simulation::record_expert_loads(int ml, Results& out) const {
  const auto e_count = static_cast<std::size_t>(scenario_.model.routed_experts);
  LayerResult& lr = out.layers[static_cast<std::size_t>(moe_first_ + ml)];
  ExpertResult* row = out.experts.data() + static_cast<std::size_t>(ml) * e_count;
  for (int mb = 0; mb < mb_count(); ++mb) {
    const LayerState& st = state(mb, moe_first_ + ml);
    const std::vector<std::int64_t>& load = st.expert_load;  // computed, padding included
    const bool on = capacity_.on();
    const bool pad = on && capacity_.policy() == CapacityPolicy::pad;
    for (std::size_t e = 0; e < e_count; ++e) {
      const std::int64_t routed = on ? st.capacity.routed[e] : load[e];
      const std::int64_t kept = on ? st.capacity.kept[e] : load[e];
      row[e].routed += routed;
      row[e].kept += kept;
      if (pad) row[e].padded += load[e] - kept;
      lr.routed_total += routed;
      lr.dropped_total += routed - kept;
    }
  }
}

void Simulation::record_expert_hosts(Results& out) const {
  const int experts = scenario_.model.routed_experts;
  for (int ml = 0; ml < scenario_.model.moe_layers(); ++ml)
    for (int e = 0; e < experts; ++e) {
      ExpertResult& r =
          out.experts[static_cast<std::size_t>(ml) * static_cast<std::size_t>(experts) + static_cast<std::size_t>(e)];
      r.layer = moe_first_ + ml;
      r.expert = e;
      r.gpus.clear();
      for (int g : placement_.replicas(ml, e)) r.gpus += (r.gpus.empty() ? "" : ";") + std::to_string(g);
    }
}

}  // namespace moesim
