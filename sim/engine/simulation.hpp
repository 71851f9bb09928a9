#pragma once
// Simulation: owns the event queue, network model, compute model, gate and placement for one
// scenario and runs its steps. Per GPU, each layer is attention -> gate -> dispatch -> experts ->
// combine, linked only by data dependencies (a GPU's experts start when every GPU that sends it
// tokens has delivered them); a step ends when every GPU has finished the last layer.
#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "comm/ep_kernel.hpp"
#include "comm/ep_layout.hpp"
#include "core/event_queue.hpp"
#include "core/rng.hpp"
#include "engine/critical_path.hpp"
#include "engine/layer_state.hpp"
#include "engine/results.hpp"
#include "gpu/compute_model.hpp"
#include "gpu/profile.hpp"
#include "moe/capacity.hpp"
#include "moe/gate.hpp"
#include "moe/memory_model.hpp"
#include "moe/moe_layer.hpp"
#include "moe/placement.hpp"
#include "net/network.hpp"
#include "net/topology.hpp"
#include "spec/scenario.hpp"
#include "spec/step_batch.hpp"

namespace moesim {

// What a caller may hand the engine beyond the scenario: inputs read by io/ (the engine reads no
// files of its own) and, for tests and benchmarks, the network model to use.
struct SimulationInputs {
  using NetworkFactory = std::function<std::unique_ptr<Network>(EventQueue&, const Topology&, MessageCost)>;
  // The scenario's placement when its kind is from_file (io::load_placement); required then.
  const Placement* placement = nullptr;
  // Builds the network model instead of the scenario's (tests inject faulty ones to check that a
  // stall is reported; benchmarks record the flows).
  NetworkFactory network;
  // Deadline, interrupt and progress reports (sweeps, `moesim run` on a terminal); may be null.
  const RunControl* control = nullptr;
  // Serving step costs: a stationary synthetic gate draws each (layer, rank)'s routing once and
  // every step reuses it (moe/reused_gate.hpp); ignored for traces and drifting popularity.
  bool reuse_routing = false;
};

class Simulation final : private DeliverySink {
 public:
  // The topology and profile must outlive the simulation. Throws InputError when the scenario
  // does not fit them (EP size larger than the topology, missing link-class parameters...).
  Simulation(const Scenario& scenario, const Topology& topology, const Profile& profile,
             const SimulationInputs& inputs = {});
  // GPUs in the scenario's expert-parallel group on `topology`; InputError when they do not fit.
  static int ep_gpus(const Scenario& scenario, const Topology& topology);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  Results run();
  const Placement& placement() const { return placement_; }

  // Serving (serve/): the batch the following steps compute, one RankBatch per GPU of the group
  // (default: the scenario's workload_batch); InputError on a wrong rank count.
  void set_batch(const StepBatch& batch);
  // Runs one more step of the current batch after the previous one and returns its duration. The
  // figures of these steps accumulate for served_results().
  TimePs run_one_step();
  // The figures of the steps run_one_step ran (links, notes and memory filled in).
  Results served_results();
  // Bytes each link carried, and critical-path time of the network segments it bounded (empty
  // before the first step), over every step run so far.
  const std::vector<Bytes>& link_bytes() const { return network_->link_bytes(); }
  const std::vector<TimePs>& link_critical_ps() const { return link_critical_ps_; }
  // Forgets the figures of the steps run so far (probes that are not part of the served run).
  void forget_served() {
    served_ = Results{};
    init_results(served_);
  }
  // A rank's compute of one MoE layer before its dispatch can start: attention and gate (its
  // shared experts run beside the dispatch).
  TimePs pre_dispatch_ps(const AttentionWork& work) const {
    return compute_.attention_ps(work) +
           compute_.gate_ps(static_cast<int>(work.tokens), !scenario_.fuse_permute_reduce);
  }
  // HBM per GPU (with the batch given at construction) and its capacity (0 = unknown).
  const GpuMemory& memory() const { return memory_; }
  Bytes memory_capacity() const { return memory_capacity_bytes_; }

 private:
  LayerState& state(int mb, int layer) const;  // `layer` counts all layers; must be an MoE layer
  int state_slot(int mb, int layer) const;     // its index in state_ (what flow tags carry)
  // simulation_placement.cpp
  std::unique_ptr<MoeLayerPlanner> make_planner() const;  // for the current placement
  void check_memory();
  void rebalance(int step);
  void move_weights();
  // simulation_plan.cpp
  void plan_step(int step);
  // Applies expert capacity to `picks` (one micro-batch of MoE layer ml) and plans its traffic.
  void plan_layer(int mb, int ml, std::vector<std::vector<int>>& picks);
  void record_expert_loads(int ml, Results& out) const;
  void init_results(Results& out) const;
  void finish_results(Results& out);
  int mb_count() const { return static_cast<int>(mb_split_.size()); }
  int mb_tokens(int mb, int g) const {
    return mb_tokens_[static_cast<std::size_t>(mb) * static_cast<std::size_t>(gpus_) + static_cast<std::size_t>(g)];
  }
  void record_expert_hosts(Results& out) const;
  void run_step(int step, Results& out, const RunControl::Clock::time_point& wall_start);
  // simulation_control.cpp: runs the step's events, looking at the run control every few thousand;
  // false when its deadline passed (out.stopped = timeout; the step is abandoned). Throws Error
  // when the step takes far more events than its tasks and flows can explain (a livelock).
  bool drain_events(int step, Results& out, const RunControl::Clock::time_point& wall_start);
  void report_progress(const Results& out, const RunControl::Clock::time_point& wall_start) const;
  void start_layer(int g, int mb, int layer, std::int32_t pred);
  void submit(int g, int mb, int layer, Phase phase, TimePs duration, std::int32_t pred,
              void (Simulation::*next)(int, int, int, std::int32_t));
  void after_attention(int g, int mb, int layer, std::int32_t task);
  void after_gate(int g, int mb, int layer, std::int32_t task);
  void after_shared(int g, int mb, int layer, std::int32_t task);
  void maybe_start_experts(int d, int mb, int layer);
  void after_experts(int d, int mb, int layer, std::int32_t task);
  void maybe_reduce(int g, int mb, int layer);
  void layer_done(int g, int mb, int layer, std::int32_t task);
  // GPU `src` starts its part of a dispatch or combine: after the kernel's fixed cost, its local
  // copy and its flows of the collective plan.
  void start_sends(Phase phase, int src, int mb, int layer, std::int32_t pred);
  void start_flows(Phase phase, int src, int slot);
  // The EP kernel holds `kernel_.params.sms` of GPU g's SMs from its start until its sends and
  // receives are done; compute submitted meanwhile runs on the rest (sm_slowdown_).
  void comm_begin(Collective& c, int g);
  void comm_end(Collective& c, int g, std::uint8_t side);
  void delivered(std::int64_t flow_id, std::uint64_t tag, TimePs at_ps) override;
  // A delivery reported (at or before `at_ps`): the sender's side (once per flow) and each GPU
  // that waits for it; a GPU acts once all its arrivals landed. `slot`: state_slot(mb, layer).
  void note_sent(Phase phase, int src, int slot, TimePs at_ps);
  void note_arrival(Phase phase, int src, int dst, int slot, TimePs at_ps, std::int64_t flow_id);
  void arrivals_landed(Phase phase, int dst, int mb, int layer);
  // For the timeline: the GPU whose dispatch delivered the last tokens an expert kernel of GPU g
  // waited for (-1 if none, and for other phases).
  std::int16_t fed_by(int g, int mb, int layer, Phase phase) const;
  // simulation_report.cpp: `last` is the step's final task.
  void record_critical_path(std::int32_t last, Results& out);
  void record_step_loads(Results& out);
  void record_links(Results& out) const;
  std::string stall_report(int step) const;
  // Where the unfinished GPUs of the step in progress are: "N GPU(s) <verb> MoE layer L: GPU g:
  // phase..." (the first few, the cause first); empty when none is stuck in an MoE layer.
  std::string unfinished_report(std::string_view verb) const;

  Scenario scenario_;
  const Topology& topology_;
  const Profile& profile_;
  int gpus_;
  int layers_;                  // all transformer layers
  int moe_first_;               // index of the first MoE layer
  StepBatch batch_;                       // per GPU: the sequences a step computes
  std::vector<int> rank_tokens_;          // [gpu] new tokens of its batch (0 when down)
  std::vector<int> mb_split_;             // one entry per micro-batch (1 or 2)
  std::vector<int> mb_tokens_;            // [mb * gpus + gpu] tokens of the micro-batch
  std::vector<TimePs> mb_attention_ps_;   // [mb * gpus + gpu] attention time of one layer
  std::int64_t step_tokens_ = 0;          // all live GPUs' tokens in a step
  Results served_;                        // run_one_step's accumulated figures
  int served_steps_ = 0;                  // steps run_one_step ran

  EventQueue queue_;
  EpKernel kernel_;  // how dispatch and combine move tokens, and their fixed costs
  std::unique_ptr<Network> network_;
  ComputeModel compute_;
  std::unique_ptr<Gate> gate_;
  CapacityLimiter capacity_;
  std::vector<std::string> notes_;    // for the report; filled while building the placement
  const Placement* given_placement_;  // from_file placements, loaded by io/
  Placement placement_;
  std::unique_ptr<MoeLayerPlanner> planner_;  // rebuilt when the placement is re-balanced
  LayerTraffic traffic_;                      // scratch: one layer's plan, before its collectives
  std::vector<FlowDecl> weight_moves_;        // expert weights to move at the start of the next step
  TimePs weights_moved_ps_ = 0;               // when the last of them arrived
  Bytes weight_bytes_moved_;
  TaskLog log_;

  std::vector<TimePs> stream_free_ps_;  // per GPU compute stream
  std::vector<double> compute_factor_;  // per GPU, > 1 for a slow GPU (faults)
  // Kernel jitter (scenario kernel_jitter): each phase's relative sigma, and the draws' stream.
  std::array<double, kPhaseCount> jitter_cv_{};
  bool jitter_ = false;
  Rng jitter_rng_{1};
  std::vector<char> down_;              // per GPU, 1 when down (faults): no tokens, no experts
  int live_gpus_ = 0;
  std::optional<EpLayout> layout_;                  // the EP group's NVLink domains (set once the down GPUs are known)
  TimePs fixed_ps_[2] = {0, 0};                     // the kernel's fixed cost: dispatch, combine
  double sm_slowdown_ = 1;                          // compute time factor while an EP kernel runs on the GPU
  std::vector<int> comm_active_;                    // per GPU: EP kernels running (with an SM cost)
  std::vector<std::unique_ptr<LayerState>> state_;  // [mb * moe_layers + moe layer]
  std::vector<std::vector<int>> gate_out_;          // scratch: gate output per source GPU
  std::vector<std::vector<int>> mb_view_;           // scratch: one micro-batch's share of it
  std::vector<std::int32_t> last_task_;             // per GPU: its final task of the step
  std::vector<TimePs> link_critical_ps_;            // per link: see LinkResult::critical_ps
  int gpus_finished_ = 0;
  std::vector<int> barrier_waiting_;  // per micro-batch: GPUs at the barrier
  std::vector<std::int32_t> barrier_tasks_;
  bool record_spans_ = false;
  GpuMemory memory_;
  Bytes memory_capacity_bytes_;
  Results* results_ = nullptr;
  int step_ = 0;
  const RunControl* control_ = nullptr;
  std::uint64_t step_event_budget_ = 0;  // events one step may take before it counts as a livelock
};

}  // namespace moesim
