#pragma once
// Raw results of a simulation: per step, per (step, layer, GPU) spans and per-GPU / per-link
// totals, plus the critical path. Derived figures (percentiles, ratios) are computed by
// report/metrics so that every writer agrees on them.
#include <cstdint>
#include <string>
#include <vector>

#include "core/units.hpp"
#include "engine/run_control.hpp"
#include "spec/phase.hpp"

namespace moesim {

struct Span {  // one bar in the timeline
  TimePs start_ps;
  TimePs end_ps;
  std::int16_t gpu;
  std::int16_t layer;
  std::uint8_t mb;
  Phase phase;
  // Experts: the GPU whose dispatch delivered the last tokens the kernel waited for (the
  // timeline's flow arrow); -1 for other phases and for a GPU that received none.
  std::int16_t fed_by_gpu;
};

struct StepResult {
  int step = 0;
  TimePs start_ps = 0;
  TimePs end_ps = 0;
  std::int64_t tokens = 0;
  TimePs critical_ps[kPhaseCount] = {};  // critical path time by phase
  TimePs step_ps() const { return end_ps - start_ps; }
};

struct LayerResult {  // accumulated over steps
  int layer = 0;
  bool moe = false;
  TimePs span_ps_sum = 0;             // sum over steps and GPUs of (layer end - layer start)
  std::int64_t received_max_sum = 0;  // sum over steps of max over GPUs of received assignments
  std::int64_t received_total = 0;    // all assignments computed (padding included)
  std::int64_t routed_total = 0;      // assignments the gate made, over steps and micro-batches
  std::int64_t dropped_total = 0;     // of them dropped over expert capacity
  Bytes dispatch_bytes;               // network bytes (not local copies), dispatch + combine separately
  Bytes combine_bytes;
  std::vector<TimePs> critical_gpu_ps;  // per GPU: critical-path time of its tasks (flows: the sender's)
  TimePs critical_ps[kPhaseCount] = {};
  std::string critical_link;  // most loaded link on the last critical dispatch/combine flow
  Bytes critical_link_bytes;
};

struct ExpertResult {  // one expert of one MoE layer, summed over steps and micro-batches
  int layer = 0;       // transformer layer
  int expert = 0;
  std::string gpus;  // its replicas' GPUs in the final placement, "3" or "3;17"
  std::int64_t routed = 0;
  std::int64_t kept = 0;    // routed minus those dropped over capacity
  std::int64_t padded = 0;  // capacity padding: empty buffer slots it computed
};

struct GpuResult {
  int gpu = 0;
  int host = 0;
  int domain = 0;
  TimePs busy_ps[kPhaseCount] = {};      // compute time by phase (comm phases: sender-side span)
  TimePs critical_ps[kPhaseCount] = {};  // critical-path time of its tasks by phase (flows: the sender's)
  std::int64_t received = 0;             // token-expert assignments computed here
  Bytes bytes_sent;                      // network bytes, dispatch + combine
  Bytes bytes_received;
  TimePs compute_busy_ps() const;
};

struct LinkResult {
  int link = 0;
  std::string from;
  std::string to;
  std::string link_class;
  Bandwidth bandwidth;
  Bytes bytes;
  TimePs busy_ps = 0;         // with at least one flow on it
  double peak_occupancy = 0;  // most of its capacity in use over one kActivityWindowPs window
  TimePs critical_ps = 0;     // critical-path time of network segments whose flow it bounded
};

struct Results {
  std::vector<StepResult> steps;
  std::vector<LayerResult> layers;
  std::vector<GpuResult> gpus;
  std::vector<LinkResult> links;
  std::vector<std::int64_t> gpu_layer_received;  // [layer * gpus + gpu], summed over steps
  std::vector<TimePs> gpu_layer_experts_ps;      // [layer * gpus + gpu], routed-expert compute
  std::vector<ExpertResult> experts;             // [moe layer * experts + expert]
  std::vector<Span> timeline;                    // only for the first timeline_steps steps
  TimePs total_ps = 0;                           // end of the last step
  TimePs link_activity_ps = 0;                   // simulated time of the steps whose link activity was recorded
  std::uint64_t events = 0;
  std::uint64_t flows = 0;
  std::uint64_t rate_solves = 0;   // flow model: max-min solves (0 for the analytic model)
  std::uint64_t assignments = 0;   // token-expert assignments routed
  std::string compute_sources;     // "attention=roofline, ..." from the ComputeModel
  std::string ep_kernel;           // "deepep_ll (low_latency)": the kernel moving dispatch and combine
  std::vector<std::string> notes;  // how inputs were adapted (trace replay rules that applied)
  Bytes weight_bytes_moved;        // expert weights copied by periodic re-balancing (network bytes)
  // HBM per GPU: routed experts on the fullest GPU, what every GPU holds, capacity.
  Bytes memory_expert_bytes_max;
  Bytes memory_replicated_bytes;
  Bytes memory_kv_bytes;
  Bytes memory_capacity_bytes;  // 0 = unknown
  double wall_s = 0;
  // none: every step of the scenario ran. interrupted: `steps` holds the steps that completed before
  // the interrupt (each whole). timeout: abandoned mid-step; nothing but this field means anything.
  RunStop stopped = RunStop::none;
  int steps_requested = 0;  // the scenario's steps (steps.size() when the run was not stopped)
};

}  // namespace moesim
