#pragma once
// Bookkeeping of one MoE layer for one micro-batch during a step: the planned traffic, and for its
// dispatch and combine which arrivals each GPU still waits for and which arrived last.
#include <cstdint>
#include <string>
#include <vector>

#include "comm/collective_plan.hpp"
#include "core/units.hpp"
#include "engine/results.hpp"
#include "moe/capacity.hpp"
#include "moe/moe_layer.hpp"
#include "net/network.hpp"

namespace moesim {

// The latest delivery to one receiver so far (ties: the first one the network reported).
struct Arrival {
  TimePs at_ps = -1;
  std::int64_t flow_id = -1;  // -1: a local copy
  int src = -1;
};

// One all-to-all phase (dispatch, or combine in the reverse direction), as the scenario's EP
// kernel moves it (`plan`). Deliveries may be reported before they land (DeliverySink), so
// `pending` counts reports and `waiting` says whether a GPU's arrivals have actually landed.
struct Collective {
  CollectivePlan plan;
  std::int64_t first_id = -1;           // network flow ids; -1 until the first sender starts
  std::vector<int> pending;             // per GPU: awaited deliveries not yet reported
  std::vector<char> waiting;            // per GPU: 1 until its last awaited arrival has landed
  std::vector<Arrival> latest;          // per GPU: the latest awaited delivery reported
  std::vector<std::int32_t> last;       // per GPU: the latest arrival's task, once landed
  std::vector<int> out_pending;         // per sender: its deliveries not yet reported
  std::vector<TimePs> out_last_ps;      // per sender: its latest delivery so far
  std::vector<TimePs> send_start_ps;    // per sender, -1 until it sends
  std::vector<std::int32_t> send_pred;  // per sender: the task its sends waited for
  std::vector<std::uint8_t> running;    // per GPU, with an SM cost: 1 = sends, 2 = receives not done

  // After `plan` is built: sizes and clears the per-step state.
  void reset();
};

struct LayerState {
  // What the step keeps of the layer's plan: the dense copy matrix is planned into scratch
  // (Simulation::traffic_) and dropped once the collectives are built from it.
  std::vector<std::vector<int>> slot_tokens;  // [gpu][slot] token-expert assignments to compute
  std::vector<std::int64_t> received;         // [gpu] token-expert assignments computed there
  std::vector<std::int64_t> expert_load;      // [expert] assignments (over all replicas)
  std::vector<std::int64_t> copies_out;       // [gpu] token copies it dispatched (results to reduce)
  CapacityTally capacity;                     // filled only when expert capacity is on
  Collective dispatch;
  Collective combine;
  std::vector<std::int32_t> gate_task;    // per GPU, -1 until its gate is done
  std::vector<std::int32_t> shared_task;  // per GPU, -1 until its shared experts are done
  std::vector<char> shared_done;
  std::vector<char> experts_started;
  std::vector<char> reduced;

  // From the layer's planned `traffic`: keeps its per-GPU and per-expert figures, builds both
  // collectives as `mode` (with `pxn`: see plan_collective) moves them over `layout` and clears
  // the per-step flags.
  void reset(const LayerTraffic& traffic, EpMode mode, const EpLayout& layout, double dispatch_bytes_per_copy,
             double combine_bytes_per_copy, bool pxn = false);
  Collective& collective(Phase phase) { return phase == Phase::dispatch ? dispatch : combine; }
  const Collective& collective(Phase phase) const { return phase == Phase::dispatch ? dispatch : combine; }
  // "" when GPU g finished this layer; otherwise the phase it is stuck in and what it waits for
  // (for the error a stalled simulation stops with).
  std::string stuck_phase(int g) const;
};

}  // namespace moesim
