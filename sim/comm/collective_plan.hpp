#pragma once
// The flows of one dispatch or combine as an expert-parallel kernel moves them (EpMode), and which
// GPUs wait for each. Flat modes (nccl, one_sided, low_latency) send every destination GPU its
// copies directly. Hierarchical sends a token once per remote NVLink domain over RDMA to the
// sender's rail peer there, which forwards it over NVLink; combine reduces inside the domain
// first and returns one partial per (token, domain). The stages are pipelined: a relay's flows
// start with its own kernel, and a GPU is done once every flow it waits for (its forwards and
// the RDMA transfers feeding them) has landed.
#include <cstdint>
#include <span>
#include <vector>

#include "comm/ep_layout.hpp"
#include "moe/moe_layer.hpp"
#include "net/network.hpp"
#include "spec/settings.hpp"

namespace moesim {

struct CollectivePlan {
  std::vector<FlowDecl> flows;             // network flows, grouped by sender in GPU order
  std::vector<std::int32_t> sender_first;  // [gpus + 1]: sender g's flows are [first[g], first[g + 1])
  // [flows + 1] CSR into `waiters` when some flow is awaited by more than its destination (the
  // hierarchical mode); empty otherwise: each flow is awaited by its destination alone.
  std::vector<std::int32_t> waiter_first;
  std::vector<std::int32_t> waiters;
  std::vector<double> local_bytes;    // [gpu] bytes it copies to itself (HBM), part of its wait
  std::vector<std::int32_t> awaited;  // [gpu] flows it waits for, plus one for a local copy
  std::vector<double> out_bytes;      // [gpu] bytes it sends over the network
  std::vector<double> in_bytes;       // [gpu] bytes it receives over the network
  // [gpu] its whole part of the collective, local copy included: the size an nccl all-to-all's
  // efficiency is read at (nccl-tests' per-rank size); empty for the other modes.
  std::vector<double> efficiency_size;

  int gpus() const { return static_cast<int>(awaited.size()); }
  std::span<const FlowDecl> flows_of(int sender) const {
    const auto s = static_cast<std::size_t>(sender);
    return {flows.data() + sender_first[s], static_cast<std::size_t>(sender_first[s + 1] - sender_first[s])};
  }
  template <class F>
  void for_each_waiter(std::size_t flow, F&& f) const {
    if (waiter_first.empty()) {
      f(flows[flow].dst_gpu);
      return;
    }
    for (std::int32_t i = waiter_first[flow]; i < waiter_first[flow + 1]; ++i) f(waiters[static_cast<std::size_t>(i)]);
  }
};

// Builds `out` (its capacity reused) for the dispatch, or with `combine` the combine, of
// `traffic`. The traffic must come from a planner that deduplicates as the mode does (none for
// low_latency) and, for hierarchical, counted domains (layout.gpu_domain()). `bytes_per_copy`:
// one token copy in this direction. Messages per flow are counted except for nccl.
// `pxn` (nccl only): a copy for a GPU y in another domain goes over NVLink to the sender's domain
// peer on y's rail (same local rank), which sends it, with its domain's other copies for y, to y.
void plan_collective(EpMode mode, bool combine, const EpLayout& layout, const LayerTraffic& traffic,
                     double bytes_per_copy, CollectivePlan& out, bool pxn = false);

// Whether the mode's planner deduplicates copies per destination GPU (`dedup`: the scenario's
// choice, which only nccl follows).
bool mode_dedups(EpMode mode, bool dedup);

}  // namespace moesim
