// Topology graph, ECMP routing (one shortest-path search per destination GPU, GPUs never
// forward) and max-flow bisection.
#include "net/topology.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/graph/filtered_graph.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>
#include <boost/graph/reverse_graph.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <ostream>
#include <set>
#include <utility>

#include "core/units.hpp"

namespace moesim {

namespace {

// Routing graph: vertices = topology nodes, edge property = link id.
using RouteGraph = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, boost::no_property,
                                         boost::property<boost::edge_index_t, int>>;

// Keeps only links that may lie on a path to `dst`: links into a GPU other than dst are dropped,
// which is what stops paths from transiting through GPUs.
struct IntoForwarderOrDst {
  const RouteGraph* graph = nullptr;
  const std::vector<Link>* links = nullptr;
  const std::vector<TopoNode>* nodes = nullptr;
  int dst = -1;
  bool operator()(RouteGraph::edge_descriptor e) const {
    const int id = boost::get(boost::edge_index, *graph, e);
    const int to = (*links)[static_cast<std::size_t>(id)].to;
    return to == dst || (*nodes)[static_cast<std::size_t>(to)].kind != NodeKind::gpu;
  }
};

// Route cost: hops first, total latency (integer ps, so ties are exact) to break hop ties. The
// tie-break makes a 2-hop NVLink path win over a 2-hop path through a shared NIC leaf.
struct Cost {
  int hops = 0;
  TimePs latency_ps = 0;
  friend bool operator<(const Cost& a, const Cost& b) {
    return a.hops != b.hops ? a.hops < b.hops : a.latency_ps < b.latency_ps;
  }
  friend bool operator==(const Cost& a, const Cost& b) = default;
};
struct CostPlus {
  Cost operator()(const Cost& a, const Cost& b) const { return {a.hops + b.hops, a.latency_ps + b.latency_ps}; }
};
constexpr Cost kUnreached{std::numeric_limits<int>::max(), std::numeric_limits<TimePs>::max()};

const char* kind_name(NodeKind k) {
  switch (k) {
    case NodeKind::gpu:
      return "gpu";
    case NodeKind::nvswitch:
      return "nvswitch";
    case NodeKind::nic:
      return "nic";
    case NodeKind::network_switch:
      return "switch";
  }
  return "?";
}

std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string dot_quote(const std::string& s) {
  // Appended, not `"\"" + ... `: GCC 12 at -O3 warns falsely (-Wrestrict) on that insert.
  std::string out = "\"";
  out += dot_escape(s);
  out += '"';
  return out;
}

}  // namespace

Topology::Topology(std::string name) : name_(std::move(name)) {}

int Topology::add_node(TopoNode node) {
  if (node.name.empty()) throw Error(fmt::format("topology '{}': node name must not be empty", name_));
  if (node_by_name_.count(node.name))
    throw Error(fmt::format("topology '{}': duplicate node name '{}'", name_, node.name));
  const int id = node_count();
  if (node.kind == NodeKind::gpu) {
    node.gpu = gpu_count();
    gpu_nodes_.push_back(id);
  } else {
    node.gpu = -1;
  }
  node_by_name_.emplace(node.name, id);
  nodes_.push_back(std::move(node));
  out_links_.emplace_back();
  finalized_ = false;
  return id;
}

int Topology::add_link(int from, int to, Bandwidth bandwidth, double latency_ns, std::string link_class) {
  if (from < 0 || from >= node_count() || to < 0 || to >= node_count())
    throw Error(fmt::format("topology '{}': link {} -> {} names a node that does not exist", name_, from, to));
  if (from == to) throw Error(fmt::format("topology '{}': link from '{}' to itself", name_, node(from).name));
  if (!(bandwidth.GBps() > 0) || !std::isfinite(bandwidth.GBps()))
    throw Error(fmt::format("topology '{}': link {} -> {} needs bandwidth > 0 (got {})", name_, node(from).name,
                            node(to).name, bandwidth.GBps()));
  if (!(latency_ns >= 0) || !std::isfinite(latency_ns))
    throw Error(fmt::format("topology '{}': link {} -> {} needs latency >= 0 (got {})", name_, node(from).name,
                            node(to).name, latency_ns));
  const int id = link_count();
  links_.push_back(Link{from, to, bandwidth, latency_ns, std::move(link_class)});
  out_links_[static_cast<std::size_t>(from)].push_back(id);
  finalized_ = false;
  return id;
}

void Topology::add_duplex(int a, int b, Bandwidth bandwidth, double latency_ns, const std::string& link_class) {
  add_link(a, b, bandwidth, latency_ns, link_class);
  add_link(b, a, bandwidth, latency_ns, link_class);
}

int Topology::find_node(const std::string& name) const {
  auto it = node_by_name_.find(name);
  return it == node_by_name_.end() ? -1 : it->second;
}

Topology Topology::renumbered_from(int first_gpu) const {
  if (!finalized_) throw Error(fmt::format("topology '{}': renumbered_from() before finalize()", name_));
  const std::size_t n = gpu_nodes_.size();
  Topology t = *this;
  const auto old_of = [&](std::size_t i) { return (i + static_cast<std::size_t>(first_gpu)) % n; };
  for (std::size_t i = 0; i < n; ++i) {
    t.gpu_nodes_[i] = gpu_nodes_[old_of(i)];
    t.nodes_[static_cast<std::size_t>(t.gpu_nodes_[i])].gpu = static_cast<int>(i);
  }
  // Routes move with their GPUs, unchanged (dmodk keeps each GPU's real port on its leaf).
  if (routing_ == RoutingKind::ecmp) {
    for (std::size_t s = 0; s < n; ++s)
      for (std::size_t d = 0; d < n; ++d) t.routes_[s * n + d] = routes_[old_of(s) * n + old_of(d)];
  } else {
    const std::size_t nodes = nodes_.size();
    for (std::size_t d = 0; d < n; ++d) {
      std::copy_n(dist_.begin() + static_cast<std::ptrdiff_t>(old_of(d) * nodes), nodes,
                  t.dist_.begin() + static_cast<std::ptrdiff_t>(d * nodes));
      t.leaf_port_[d] = leaf_port_[old_of(d)];
    }
  }
  return t;
}

void Topology::finalize(int max_ecmp, RoutingKind routing) {
  if (max_ecmp < 1) throw Error(fmt::format("topology '{}': max_ecmp must be >= 1 (got {})", name_, max_ecmp));
  if (gpu_nodes_.empty()) throw Error(fmt::format("topology '{}' has no GPUs", name_));
  const std::size_t n_gpus = gpu_nodes_.size();
  routing_ = routing;
  max_ecmp_ = max_ecmp;
  routes_.clear();
  dist_.clear();
  if (routing == RoutingKind::dmodk) {
    finalize_dmodk();
    finalized_ = true;
    return;
  }

  RouteGraph g(nodes_.size());
  for (std::size_t i = 0; i < links_.size(); ++i)
    if (links_[i].up)
      boost::add_edge(static_cast<std::size_t>(links_[i].from), static_cast<std::size_t>(links_[i].to),
                      static_cast<int>(i), g);

  std::vector<Cost> link_cost(links_.size());
  for (std::size_t i = 0; i < links_.size(); ++i) link_cost[i] = Cost{1, ps_from_ns(links_[i].latency_ns)};

  routes_.assign(n_gpus * n_gpus, {});
  std::vector<Cost> dist(nodes_.size());
  std::vector<std::vector<int>> next_hops(nodes_.size());  // per node, for the current dst
  Path stack;
  for (std::size_t d = 0; d < n_gpus; ++d) {
    const int dst_node = gpu_nodes_[d];
    // Cost of every node to dst, walking links backwards from dst (one search per destination).
    IntoForwarderOrDst keep{&g, &links_, &nodes_, dst_node};
    boost::filtered_graph<RouteGraph, IntoForwarderOrDst> fg(g, keep);
    auto rg = boost::make_reverse_graph(fg);
    auto weight = boost::make_iterator_property_map(link_cost.begin(), boost::get(boost::edge_index, rg));
    auto dist_map = boost::make_iterator_property_map(dist.begin(), boost::get(boost::vertex_index, rg));
    boost::dijkstra_shortest_paths(rg, static_cast<std::size_t>(dst_node),
                                   boost::distance_map(dist_map)
                                       .weight_map(weight)
                                       .distance_compare(std::less<Cost>())
                                       .distance_combine(CostPlus())
                                       .distance_inf(kUnreached)
                                       .distance_zero(Cost{}));
    auto reached = [&](int node_id) { return !(dist[static_cast<std::size_t>(node_id)] == kUnreached); };

    // Links on a cheapest path to dst: cost(x) = cost(link) + cost(y), never entering another GPU.
    for (auto& v : next_hops) v.clear();
    for (std::size_t l = 0; l < links_.size(); ++l) {
      const int x = links_[l].from, y = links_[l].to;
      const bool may_enter = y == dst_node || nodes_[static_cast<std::size_t>(y)].kind != NodeKind::gpu;
      if (links_[l].up && may_enter && reached(x) && reached(y) &&
          CostPlus()(link_cost[l], dist[static_cast<std::size_t>(y)]) == dist[static_cast<std::size_t>(x)])
        next_hops[static_cast<std::size_t>(x)].push_back(static_cast<int>(l));
    }

    int reached_by = 0;  // other GPUs that reach dst
    for (std::size_t s = 0; s < n_gpus; ++s)
      if (s != d && reached(gpu_nodes_[s])) ++reached_by;

    for (std::size_t s = 0; s < n_gpus; ++s) {
      if (s == d) continue;
      const int src_node = gpu_nodes_[s];
      if (!reached(src_node)) {
        const int blamed = reached_by == 0 ? static_cast<int>(d) : static_cast<int>(s);
        throw RouteError(fmt::format("topology '{}': GPU '{}' (gpu {}) cannot reach GPU '{}' (gpu {})", name_,
                                     nodes_[static_cast<std::size_t>(src_node)].name, s,
                                     nodes_[static_cast<std::size_t>(dst_node)].name, d),
                         static_cast<int>(s), static_cast<int>(d), blamed);
      }
      // Depth-first over the next-hop links, in ascending link id order, so the paths come out
      // sorted lexicographically by link ids.
      std::vector<Path>& out = routes_[s * n_gpus + d];
      stack.clear();
      auto walk = [&](auto&& self, int x) -> void {
        for (int l : next_hops[static_cast<std::size_t>(x)]) {
          if (static_cast<int>(out.size()) >= max_ecmp) return;
          const int y = links_[static_cast<std::size_t>(l)].to;
          stack.push_back(l);
          if (y == dst_node)
            out.push_back(stack);
          else
            self(self, y);
          stack.pop_back();
        }
      };
      walk(walk, src_node);
    }
  }
  finalized_ = true;
}

std::vector<int> Topology::links_between(int a, int b) const {
  std::vector<int> out;
  for (int l : out_links(a))
    if (links_[static_cast<std::size_t>(l)].to == b) out.push_back(l);
  return out;
}

bool Topology::nvlink_only(int src_gpu, int dst_gpu) const {
  if (routing_ == RoutingKind::dmodk) {
    Path p;
    route(src_gpu, dst_gpu, p);
    for (int l : p)
      if (link(l).link_class != "nvlink") return false;
    return true;
  }
  for (const Path& p : paths(src_gpu, dst_gpu))
    for (int l : p)
      if (link(l).link_class != "nvlink") return false;
  return true;
}

double Topology::path_latency_ns(const Path& path) const {
  double total = 0;
  for (int l : path) total += link(l).latency_ns;
  return total;
}

TopologySummary Topology::summarize() const {
  if (!finalized_) throw Error(fmt::format("topology '{}': summarize() before finalize()", name_));
  TopologySummary s;
  s.name = name_;
  s.gpus = gpu_count();
  s.nodes = node_count();
  s.links = link_count();

  std::set<int> hosts, domains;
  for (int g = 0; g < gpu_count(); ++g) {
    if (gpu_host(g) >= 0) hosts.insert(gpu_host(g));
    if (gpu_domain(g) >= 0) domains.insert(gpu_domain(g));
    Bandwidth inj, nic;
    for (int l : out_links(gpu_node(g))) {
      inj += link(l).bandwidth;
      if (link(l).link_class == "nic") nic += link(l).bandwidth;
    }
    s.injection = std::max(s.injection, inj);
    s.scaleout_injection = std::max(s.scaleout_injection, nic);
  }
  s.hosts = static_cast<int>(hosts.size());
  s.domains = static_cast<int>(domains.size());

  // Node names by kind, so fault targets can be looked up.
  for (NodeKind k : {NodeKind::gpu, NodeKind::nvswitch, NodeKind::nic, NodeKind::network_switch}) {
    NodeGroup g{kind_name(k), {}};
    for (const TopoNode& nd : nodes_)
      if (nd.kind == k) g.names.push_back(nd.name);
    if (!g.names.empty()) s.node_groups.push_back(std::move(g));
  }

  // One row per (class, per-link bandwidth), classes in order of first appearance.
  for (const Link& l : links_) {
    auto it = std::find_if(s.classes.begin(), s.classes.end(), [&](const LinkClassSummary& c) {
      return c.link_class == l.link_class && c.bandwidth == l.bandwidth;
    });
    if (it == s.classes.end()) {
      s.classes.push_back(LinkClassSummary{l.link_class, 0, l.bandwidth, Bandwidth{}});
      it = std::prev(s.classes.end());
    }
    ++it->links;
    it->total += l.bandwidth;
  }

  for (const auto& ps : routes_) {
    s.max_ecmp_paths = std::max(s.max_ecmp_paths, static_cast<int>(ps.size()));
    for (const Path& p : ps) s.max_path_links = std::max(s.max_path_links, static_cast<int>(p.size()));
  }
  if (routing_ == RoutingKind::dmodk) {  // one route per pair; its length is the cost's hop count
    s.max_ecmp_paths = gpu_count() > 1 ? 1 : 0;
    for (int d = 0; d < gpu_count(); ++d)
      for (int g = 0; g < gpu_count(); ++g)
        if (g != d)
          s.max_path_links = std::max(
              s.max_path_links,
              static_cast<int>(
                  dist_[static_cast<std::size_t>(d) * nodes_.size() + static_cast<std::size_t>(gpu_node(g))] >> 40));
  }

  // Bisection: max flow from a super source feeding GPUs [0, n/2) to a super sink draining
  // [n/2, n). GPUs may carry flow here, but that never raises the cut: each half's GPUs are fed
  // (drained) without limit, so a path through a same-half GPU could start (end) there instead.
  const int n = gpu_count();
  if (n >= 2) {
    using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
    using FlowGraph = boost::adjacency_list<
        boost::vecS, boost::vecS, boost::directedS, boost::no_property,
        boost::property<boost::edge_capacity_t, long long,
                        boost::property<boost::edge_residual_capacity_t, long long,
                                        boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;
    // Integer capacities in MB/s keep push-relabel exact.
    auto to_MBps = [](Bandwidth b) { return static_cast<long long>(std::llround(b.GBps() * 1000.0)); };
    long long infinite = 1;
    for (const Link& l : links_) infinite += to_MBps(l.bandwidth);

    FlowGraph fg(nodes_.size() + 2);
    const std::size_t source = nodes_.size(), sink = nodes_.size() + 1;
    auto cap = boost::get(boost::edge_capacity, fg);
    auto rev = boost::get(boost::edge_reverse, fg);
    auto add_arc = [&](std::size_t a, std::size_t b, long long c) {
      auto e = boost::add_edge(a, b, fg).first;
      auto r = boost::add_edge(b, a, fg).first;
      cap[e] = c;
      cap[r] = 0;
      rev[e] = r;
      rev[r] = e;
    };
    for (const Link& l : links_)
      add_arc(static_cast<std::size_t>(l.from), static_cast<std::size_t>(l.to), to_MBps(l.bandwidth));
    for (int g = 0; g < n; ++g) {
      const auto v = static_cast<std::size_t>(gpu_node(g));
      if (g < n / 2)
        add_arc(source, v, infinite);
      else
        add_arc(v, sink, infinite);
    }
    s.bisection = Bandwidth::from_GBps(static_cast<double>(boost::push_relabel_max_flow(fg, source, sink)) / 1000.0);
  }
  return s;
}

void Topology::write_dot(std::ostream& out) const {
  const char* shapes[] = {"box", "hexagon", "ellipse", "diamond"};  // by NodeKind
  out << "digraph " << dot_quote(name_) << " {\n  rankdir=TB;\n";
  for (const TopoNode& nd : nodes_) {
    std::string label = dot_escape(nd.name);
    if (nd.kind == NodeKind::gpu) label += fmt::format("\\ngpu {} host {} dom {}", nd.gpu, nd.host, nd.domain);
    out << "  " << dot_quote(nd.name) << " [shape=" << shapes[static_cast<int>(nd.kind)] << ", label=\"" << label
        << "\", tooltip=\"" << kind_name(nd.kind) << "\"];\n";
  }
  // Pair each link with an unused reverse twin of the same class, bandwidth and latency.
  std::map<std::pair<int, int>, std::vector<int>> by_ends;
  for (int i = 0; i < link_count(); ++i) by_ends[{link(i).from, link(i).to}].push_back(i);
  std::vector<bool> done(links_.size(), false);
  for (int i = 0; i < link_count(); ++i) {
    if (done[static_cast<std::size_t>(i)]) continue;
    const Link& l = link(i);
    done[static_cast<std::size_t>(i)] = true;
    bool duplex = false;
    auto it = by_ends.find({l.to, l.from});
    if (it != by_ends.end()) {
      for (int j : it->second) {
        const Link& r = link(j);
        if (!done[static_cast<std::size_t>(j)] && r.link_class == l.link_class && r.bandwidth == l.bandwidth &&
            r.latency_ns == l.latency_ns) {
          done[static_cast<std::size_t>(j)] = true;
          duplex = true;
          break;
        }
      }
    }
    out << "  " << dot_quote(node(l.from).name) << " -> " << dot_quote(node(l.to).name) << " [label=\""
        << fmt::format("{} {:g} GB/s", l.link_class, l.bandwidth.GBps()) << "\"" << (duplex ? ", dir=none" : "")
        << "];\n";
  }
  out << "}\n";
}

}  // namespace moesim
