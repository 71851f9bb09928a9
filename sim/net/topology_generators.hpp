#pragma once
// Generators for regular machines: HGX nodes (NVSwitch inside, one NIC per GPU on a
// rail-optimised leaf/spine scale-out) and NVL72-like racks (one NVLink domain per rack) joined
// by a fat-tree with configurable oversubscription. Figures come from the caller (topology files).
#include <string>

#include "net/topology.hpp"

namespace moesim {

struct ScaleOutSpec {
  double nic_Gbps = 400;           // per GPU NIC, per direction (Gbit/s)
  double nic_latency_ns = 1000;    // GPU -> leaf (NIC + cable + switch hop)
  double fabric_latency_ns = 500;  // per switch-to-switch hop
  double oversubscription = 1.0;   // leaf downlink : uplink bandwidth ratio (>= 1)
  int spines = 0;                  // 0 = as many as needed to be non-blocking before oversubscription
  bool rail_optimized = true;      // HGX: GPU i of every node shares leaf i
};

struct HgxSpec {
  std::string name = "hgx";
  int nodes = 1;
  int gpus_per_node = 8;
  double nvlink_GBps = 450;  // per GPU per direction into the NVSwitch fabric
  double nvlink_latency_ns = 500;
  ScaleOutSpec scaleout;  // ignored when nodes == 1
};

struct NvlRackSpec {
  std::string name = "nvl72";
  int racks = 1;
  int gpus_per_rack = 72;
  int gpus_per_tray = 4;  // "host" granularity for replica choice
  double nvlink_GBps = 900;
  double nvlink_latency_ns = 500;
  ScaleOutSpec scaleout;  // NICs per GPU into a fat-tree joining racks (also when racks == 1)
  int gpus_per_leaf = 0;  // 0 = one leaf per rack
};

// Both throw InputError for invalid specs and return a topology not yet finalized (call
// finalize()). GPUs are named gpu0.., switches node<i>.nvswitch / rack<i>.nvswitch, leaf<i>, spine<i>.
Topology make_hgx(const HgxSpec& spec);
Topology make_nvl_racks(const NvlRackSpec& spec);

}  // namespace moesim
