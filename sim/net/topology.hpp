#pragma once
// A cluster as a directed graph of GPUs, switches and NICs joined by links with a bandwidth per
// direction and a latency; routes are the equal-cost shortest paths between GPUs (ECMP; fewest
// hops, ties broken by lowest total latency), never transiting through a GPU. Switches are
// non-blocking: only links limit bandwidth.
#include <cstdint>
#include <iosfwd>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/units.hpp"
#include "spec/settings.hpp"

namespace moesim {

enum class NodeKind { gpu, nvswitch, nic, network_switch };

struct TopoNode {
  std::string name;
  NodeKind kind = NodeKind::gpu;
  int gpu = -1;     // GPU index (0..gpus-1) for GPU nodes, -1 otherwise
  int host = -1;    // server / compute tray of a GPU ("same node" for replica choice)
  int domain = -1;  // NVLink domain (HGX node or NVL rack) of a GPU
};

// Link classes used in reports and in Profile communication parameters.
//   "nvlink": GPU <-> NVSwitch (scale-up); "nic": GPU <-> leaf switch through its NIC;
//   "fabric": switch <-> switch in the scale-out network.
struct Link {
  int from = -1;  // node ids
  int to = -1;
  Bandwidth bandwidth;    // per direction (each Link is one direction)
  double latency_ns = 0;  // summed along a path in ns, then rounded to ps once
  std::string link_class;
  bool up = true;  // a downed link carries nothing and no route uses it (fault what-ifs)
};

using Path = std::vector<int>;  // link ids, source GPU to destination GPU

// What carries a GPU pair's traffic: NVLink alone, or also the scale-out network. Message costs
// (latency, efficiency by size) are per kind.
enum class PathKind : std::uint8_t { nvlink, scale_out };
inline constexpr int kPathKindCount = 2;
constexpr const char* path_kind_name(PathKind k) {
  switch (k) {
    case PathKind::nvlink:
      return "nvlink";
    case PathKind::scale_out:
      return "scale_out";
  }
  return "?";
}

struct LinkClassSummary {
  std::string link_class;
  int links = 0;        // directed links
  Bandwidth bandwidth;  // of one link
  Bandwidth total;      // sum over the directed links
};

// The names of one kind of node ("gpu", "nvswitch", "nic", "switch"), in node id order.
struct NodeGroup {
  std::string kind;
  std::vector<std::string> names;
};

struct TopologySummary {
  std::string name;
  int gpus = 0;
  int hosts = 0;
  int domains = 0;
  int nodes = 0;
  int links = 0;                       // directed
  std::vector<NodeGroup> node_groups;  // by NodeKind, kinds with no node left out
  std::vector<LinkClassSummary> classes;
  Bandwidth injection;           // per GPU, out of the GPU over all its links (max over GPUs)
  Bandwidth scaleout_injection;  // per GPU, over "nic" links only
  Bandwidth bisection;           // min cut, one direction, GPUs [0, n/2) vs [n/2, n)
  int max_ecmp_paths = 0;
  int max_path_links = 0;
};

// Thrown by finalize() when a GPU cannot reach another. `blamed_gpu` is the GPU most likely at
// fault (the destination when no GPU reaches it, else the source), so loaders can point at it.
class RouteError : public Error {
 public:
  RouteError(const std::string& message, int src, int dst, int blamed)
      : Error(message), src_gpu(src), dst_gpu(dst), blamed_gpu(blamed) {}
  int src_gpu;
  int dst_gpu;
  int blamed_gpu;
};

class Topology {
 public:
  explicit Topology(std::string name = "unnamed");

  // Building. Node names must be unique. add_link adds one direction; add_duplex adds both.
  int add_node(TopoNode node);  // a GPU node gets the next GPU index automatically
  int add_link(int from, int to, Bandwidth bandwidth, double latency_ns, std::string link_class);
  void add_duplex(int a, int b, Bandwidth bandwidth, double latency_ns, const std::string& link_class);
  // Computes routes: cheapest by (hops, then total latency); throws RouteError when some GPU
  // cannot reach another. Call once after building, before any query below.
  //   ecmp: every cheapest path of every GPU pair is stored (at most `max_ecmp` per pair, sorted
  //     by link ids); each flow hashes onto one of them (net/network.cpp).
  //   dmodk: destination-based deterministic routing. At a node with several cheapest next hops
  //     toward GPU d, the hop is number (port(d) mod their count), port(d) being d's index among
  //     the GPUs on its own scale-out leaf: traffic to one GPU follows one tree, and a leaf's
  //     uplinks are spread over the GPUs of a destination leaf, as InfiniBand's D-mod-k does.
  //     Only per-destination costs are stored (GPUs x nodes); routes are walked on demand.
  void finalize(int max_ecmp = 16, RoutingKind routing = RoutingKind::ecmp);
  RoutingKind routing() const { return routing_; }
  // The route a flow from src to dst takes under dmodk (ecmp: the first of paths()), into `out`.
  void route(int src_gpu, int dst_gpu, Path& out) const;
  // Fault what-ifs, applied before (re-)finalizing: the directed links from node a to node b.
  std::vector<int> links_between(int a, int b) const;
  void set_link_up(int link, bool up) {
    links_[static_cast<std::size_t>(link)].up = up;
    finalized_ = false;
  }
  void scale_link_bandwidth(int link, double factor) { links_[static_cast<std::size_t>(link)].bandwidth *= factor; }
  // The same cluster, finalized, with GPU `first_gpu` numbered 0 (and the GPUs after it, wrapping
  // around, numbered on): a simulation of GPUs [0, n) then runs on GPUs [first_gpu, first_gpu + n)
  // of this one, over the same links (same ids) and the same routes.
  Topology renumbered_from(int first_gpu) const;
  int max_ecmp() const { return max_ecmp_; }

  const std::string& name() const { return name_; }
  int gpu_count() const { return static_cast<int>(gpu_nodes_.size()); }
  int node_count() const { return static_cast<int>(nodes_.size()); }
  int link_count() const { return static_cast<int>(links_.size()); }
  const TopoNode& node(int id) const { return nodes_[static_cast<std::size_t>(id)]; }
  const Link& link(int id) const { return links_[static_cast<std::size_t>(id)]; }
  const std::vector<Link>& links() const { return links_; }
  int gpu_node(int gpu) const { return gpu_nodes_[static_cast<std::size_t>(gpu)]; }
  int gpu_host(int gpu) const { return node(gpu_node(gpu)).host; }
  int gpu_domain(int gpu) const { return node(gpu_node(gpu)).domain; }
  int find_node(const std::string& name) const;  // -1 when absent
  const std::vector<int>& out_links(int node_id) const { return out_links_[static_cast<std::size_t>(node_id)]; }
  bool finalized() const { return finalized_; }

  // Equal-cost paths from src GPU to dst GPU (empty when src == dst); ecmp routing only (dmodk
  // stores no pair table: use route()).
  const std::vector<Path>& paths(int src_gpu, int dst_gpu) const {
    if (routing_ != RoutingKind::ecmp) throw Error("topology: paths() of a dmodk topology; use route()");
    return routes_[static_cast<std::size_t>(src_gpu) * gpu_nodes_.size() + static_cast<std::size_t>(dst_gpu)];
  }
  // True when every link of every path between the two GPUs is "nvlink".
  bool nvlink_only(int src_gpu, int dst_gpu) const;
  PathKind path_kind(int src_gpu, int dst_gpu) const {
    return nvlink_only(src_gpu, dst_gpu) ? PathKind::nvlink : PathKind::scale_out;
  }
  // Sum of the latencies of the path's links, in ns.
  double path_latency_ns(const Path& path) const;

  // Optional GPU memory in GB (0 = unknown), taken from the topology file.
  double gpu_memory_GB = 0;

  TopologySummary summarize() const;
  void write_dot(std::ostream& out) const;

 private:
  std::string name_;
  std::vector<TopoNode> nodes_;
  std::vector<Link> links_;
  std::vector<int> gpu_nodes_;
  std::vector<std::vector<int>> out_links_;  // [node] -> link ids, ascending
  std::unordered_map<std::string, int> node_by_name_;
  std::vector<std::vector<Path>> routes_;  // ecmp: [src * gpus + dst]
  bool finalized_ = false;
  int max_ecmp_ = 16;
  RoutingKind routing_ = RoutingKind::ecmp;
  // dmodk (topology_dmodk.cpp): [dst gpu * nodes + node] cost to reach dst, packed as
  // hops << 40 | latency_ps (kNoRoute when unreachable), and each GPU's port on its leaf.
  std::vector<std::uint64_t> dist_;
  std::vector<int> leaf_port_;
  void finalize_dmodk();
  std::uint64_t link_cost(int link) const;
  bool may_enter(int link, int dst_node) const;
};

}  // namespace moesim
