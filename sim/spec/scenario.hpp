#pragma once
// A what-if experiment, fully resolved: every field has its final value (defaults applied, paths
// absolute), so the same Scenario always gives the same Results.
#include <cstdint>
#include <string>
#include <vector>

#include "spec/fault_spec.hpp"
#include "spec/gate_spec.hpp"
#include "spec/model_spec.hpp"
#include "spec/serving_spec.hpp"
#include "spec/settings.hpp"

namespace moesim {

struct WorkloadSpec {
  WorkloadPhase phase = WorkloadPhase::decode;
  int tokens_per_gpu = 128;  // new tokens per GPU per step (decode batch / prompt chunk)
  int kv_len = 4096;         // decode: cached context per sequence (the mean when drawn)
  // Decode: each sequence's context drawn per rank: fixed, uniform in [1, 2 kv_len - 1] or
  // log-normal with mean kv_len and CV kv_len_cv.
  LengthKind kv_len_dist = LengthKind::fixed;
  double kv_len_cv = 1;
  // Prefill: tokens_per_gpu filled with prompts of prompt_len tokens (0 = one prompt of
  // tokens_per_gpu), the last one cut; drawn like kv_len with prompt_len_dist / prompt_len_cv.
  int prompt_len = 0;
  LengthKind prompt_len_dist = LengthKind::fixed;
  double prompt_len_cv = 1;
  int steps = 10;
};

struct Scenario {
  std::string file;  // the scenario file it came from ("" when built in code)
  std::string name = "scenario";
  std::uint64_t seed = 1;
  std::string model_preset;  // "" when dims are explicit
  ModelSpec model;
  std::string topology_path;  // absolute
  std::string profile_path;   // absolute
  // Where each path was given ("file:line:col: hardware.topology", or the --set), named when the
  // file is missing; "" when built in code.
  std::string topology_where, profile_where;
  // Kernel times vary per launch by the profile's measured spread (seeded): a layer then waits for
  // the slowest of its GPUs' draws.
  bool kernel_jitter = false;
  int ep_size = 0;  // GPUs used (the first ep_size of the topology); 0 = all
  WorkloadSpec workload;
  GateSpec gate;           // synthetic gate (unused when trace_path is set)
  std::string trace_path;  // absolute; set when [gate] kind = "trace"
  PlacementKind placement = PlacementKind::contiguous;
  std::string placement_file;      // absolute; from_file only
  int placement_window_steps = 8;  // steps of routing a load-aware strategy observes
  int redundant_slots = 0;         // extra expert replicas in total (redundant strategy)
  int rebalance_every_steps = 0;   // recompute the placement every K steps (0 = never)
  std::string placement_where;     // placement.kind's (or redundant_slots') place, as topology_where
  NetworkModelKind network_model = NetworkModelKind::flow;
  bool dedup = true;               // one dispatch copy per (token, destination GPU); nccl kernels only
  // The EP kernel permutes tokens as it dispatches and reduces them as it combines (DeepEP):
  // moesim's own permute and reduction kernels then cost nothing beside it.
  bool fuse_permute_reduce = false;
  std::string ep_kernel = "nccl";  // the profile's [ep_kernel.<name>] that moves dispatch and combine
  // Flow model: re-solve rates once this fraction of the active flows has started or finished
  // since the last solve (0 = after every change: exact max-min; see net/flow_model.hpp).
  double resolve_tolerance = 0.05;
  bool layer_barrier = false;  // all GPUs wait for each other at every layer
  OverlapMode overlap = OverlapMode::none;
  std::string output_dir;         // "" = results/<name> under the working directory
  int timeline_steps = 1;         // steps drawn in timeline.json (0 = none)
  int link_activity_steps = 1;    // steps whose link busy time and peak are recorded (0 = none)
  std::vector<FaultSpec> faults;  // what-if failures; empty = healthy
  ServingSpec serving;            // [serving]: request-level simulation instead of fixed steps

  bool prefill() const { return workload.phase == WorkloadPhase::prefill; }
  int microbatches() const { return overlap == OverlapMode::two_microbatch ? 2 : 1; }
};

}  // namespace moesim
