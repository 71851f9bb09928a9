// HGX and NVL-rack generators: one logical NVSwitch node per NVLink domain, one NIC per GPU to a
// leaf, leaves to spines with uplinks sized by the oversubscription ratio.
#include "net/topology_generators.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace moesim {

namespace {

void require(bool ok, const std::string& what, const std::string& message) {
  if (!ok) throw InputError(fmt::format("{}: {}", what, message));
}

void check_positive(double v, const std::string& what, const char* key) {
  require(std::isfinite(v) && v > 0, what, fmt::format("{} must be > 0 (got {})", key, v));
}

void check_non_negative(double v, const std::string& what, const char* key) {
  require(std::isfinite(v) && v >= 0, what, fmt::format("{} must be >= 0 (got {})", key, v));
}

void check_count(int v, const std::string& what, const char* key) {
  require(v >= 1, what, fmt::format("{} must be >= 1 (got {})", key, v));
}

void check_scaleout(const ScaleOutSpec& s, const std::string& what) {
  check_positive(s.nic_Gbps, what, "nic_Gbps");
  check_non_negative(s.nic_latency_ns, what, "nic_latency_ns");
  check_non_negative(s.fabric_latency_ns, what, "fabric_latency_ns");
  require(std::isfinite(s.oversubscription) && s.oversubscription >= 1, what,
          fmt::format("oversubscription must be >= 1 (got {})", s.oversubscription));
  require(s.spines >= 0, what, fmt::format("spines must be >= 0 (got {})", s.spines));
}

// Adds `leaf_gpus.size()` leaves (GPU lists per leaf) with a "nic" link per GPU, then a spine
// layer: every leaf links to every spine, leaf uplink total = downlink total / oversubscription.
// One leaf needs no spines, so none are built then.
void add_scaleout(Topology& t, const ScaleOutSpec& s, const std::vector<std::vector<int>>& leaf_gpus) {
  const Bandwidth nic = Bandwidth::from_GBps(s.nic_Gbps / 8.0);
  std::vector<int> leaves;
  for (std::size_t l = 0; l < leaf_gpus.size(); ++l) {
    TopoNode leaf{fmt::format("leaf{}", l), NodeKind::network_switch};
    const int id = t.add_node(leaf);
    leaves.push_back(id);
    for (int gpu : leaf_gpus[l]) t.add_duplex(t.gpu_node(gpu), id, nic, s.nic_latency_ns, "nic");
  }
  if (leaves.size() < 2) return;
  const int spines = s.spines > 0 ? s.spines : std::max(1, static_cast<int>(leaves.size()) / 2);
  std::vector<int> spine_ids;
  for (int k = 0; k < spines; ++k)
    spine_ids.push_back(t.add_node(TopoNode{fmt::format("spine{}", k), NodeKind::network_switch}));
  for (std::size_t l = 0; l < leaves.size(); ++l) {
    const Bandwidth down = nic * static_cast<double>(leaf_gpus[l].size());
    const Bandwidth per_uplink = down / s.oversubscription / spines;
    for (int sp : spine_ids) t.add_duplex(leaves[l], sp, per_uplink, s.fabric_latency_ns, "fabric");
  }
}

}  // namespace

Topology make_hgx(const HgxSpec& spec) {
  const std::string what = fmt::format("hgx topology '{}'", spec.name);
  check_count(spec.nodes, what, "nodes");
  check_count(spec.gpus_per_node, what, "gpus_per_node");
  check_positive(spec.nvlink_GBps, what, "nvlink_GBps");
  check_non_negative(spec.nvlink_latency_ns, what, "nvlink_latency_ns");
  if (spec.nodes > 1) check_scaleout(spec.scaleout, what);

  Topology t(spec.name);
  for (int n = 0; n < spec.nodes; ++n) {
    for (int g = 0; g < spec.gpus_per_node; ++g) {
      TopoNode gpu{fmt::format("gpu{}", n * spec.gpus_per_node + g), NodeKind::gpu};
      gpu.host = n;
      gpu.domain = n;
      t.add_node(gpu);
    }
  }
  const Bandwidth nvlink = Bandwidth::from_GBps(spec.nvlink_GBps);
  for (int n = 0; n < spec.nodes; ++n) {
    const int sw = t.add_node(TopoNode{fmt::format("node{}.nvswitch", n), NodeKind::nvswitch});
    for (int g = 0; g < spec.gpus_per_node; ++g)
      t.add_duplex(t.gpu_node(n * spec.gpus_per_node + g), sw, nvlink, spec.nvlink_latency_ns, "nvlink");
  }
  if (spec.nodes > 1) {
    // Rail-optimised: leaf r holds GPU r of every node; otherwise one top-of-rack leaf per node.
    std::vector<std::vector<int>> leaf_gpus;
    if (spec.scaleout.rail_optimized) {
      leaf_gpus.resize(static_cast<std::size_t>(spec.gpus_per_node));
      for (int n = 0; n < spec.nodes; ++n)
        for (int g = 0; g < spec.gpus_per_node; ++g)
          leaf_gpus[static_cast<std::size_t>(g)].push_back(n * spec.gpus_per_node + g);
    } else {
      leaf_gpus.resize(static_cast<std::size_t>(spec.nodes));
      for (int n = 0; n < spec.nodes; ++n)
        for (int g = 0; g < spec.gpus_per_node; ++g)
          leaf_gpus[static_cast<std::size_t>(n)].push_back(n * spec.gpus_per_node + g);
    }
    add_scaleout(t, spec.scaleout, leaf_gpus);
  }
  return t;
}

Topology make_nvl_racks(const NvlRackSpec& spec) {
  const std::string what = fmt::format("nvl_rack topology '{}'", spec.name);
  check_count(spec.racks, what, "racks");
  check_count(spec.gpus_per_rack, what, "gpus_per_rack");
  check_count(spec.gpus_per_tray, what, "gpus_per_tray");
  require(spec.gpus_per_rack % spec.gpus_per_tray == 0, what,
          fmt::format("gpus_per_rack ({}) must be a multiple of gpus_per_tray ({})", spec.gpus_per_rack,
                      spec.gpus_per_tray));
  require(spec.gpus_per_leaf >= 0, what, fmt::format("gpus_per_leaf must be >= 0 (got {})", spec.gpus_per_leaf));
  check_positive(spec.nvlink_GBps, what, "nvlink_GBps");
  check_non_negative(spec.nvlink_latency_ns, what, "nvlink_latency_ns");
  check_scaleout(spec.scaleout, what);

  Topology t(spec.name);
  for (int r = 0; r < spec.racks; ++r) {
    for (int g = 0; g < spec.gpus_per_rack; ++g) {
      const int global = r * spec.gpus_per_rack + g;
      TopoNode gpu{fmt::format("gpu{}", global), NodeKind::gpu};
      gpu.host = global / spec.gpus_per_tray;
      gpu.domain = r;
      t.add_node(gpu);
    }
  }
  // The NVSwitch trays of a rack act as one non-blocking switch: one logical node per rack.
  const Bandwidth nvlink = Bandwidth::from_GBps(spec.nvlink_GBps);
  for (int r = 0; r < spec.racks; ++r) {
    const int sw = t.add_node(TopoNode{fmt::format("rack{}.nvswitch", r), NodeKind::nvswitch});
    for (int g = 0; g < spec.gpus_per_rack; ++g)
      t.add_duplex(t.gpu_node(r * spec.gpus_per_rack + g), sw, nvlink, spec.nvlink_latency_ns, "nvlink");
  }
  // Leaves never span racks; a rack's last leaf may be partly filled.
  const int per_leaf = spec.gpus_per_leaf > 0 ? std::min(spec.gpus_per_leaf, spec.gpus_per_rack) : spec.gpus_per_rack;
  const int leaves_per_rack = (spec.gpus_per_rack + per_leaf - 1) / per_leaf;
  std::vector<std::vector<int>> leaf_gpus(static_cast<std::size_t>(spec.racks * leaves_per_rack));
  for (int r = 0; r < spec.racks; ++r)
    for (int g = 0; g < spec.gpus_per_rack; ++g)
      leaf_gpus[static_cast<std::size_t>(r * leaves_per_rack + g / per_leaf)].push_back(r * spec.gpus_per_rack + g);
  add_scaleout(t, spec.scaleout, leaf_gpus);
  return t;
}

}  // namespace moesim
