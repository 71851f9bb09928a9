// D-mod-k routing (see Topology::finalize): per destination GPU, the cost of every node to reach
// it (Dijkstra on reversed links, GPUs never forwarding); a route is walked from the source,
// taking at each node the next hop numbered port(dst) mod (cheapest next hops there).
#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <queue>

#include "net/topology.hpp"

namespace moesim {

namespace {
constexpr std::uint64_t kNoRoute = std::numeric_limits<std::uint64_t>::max();
constexpr int kHopShift = 40;  // latency in ps below 2^40 (1.1 s) per route
}  // namespace

std::uint64_t Topology::link_cost(int link) const {
  return (std::uint64_t{1} << kHopShift) +
         static_cast<std::uint64_t>(ps_from_ns(links_[static_cast<std::size_t>(link)].latency_ns));
}

bool Topology::may_enter(int link, int dst_node) const {
  const Link& l = links_[static_cast<std::size_t>(link)];
  return l.up && (l.to == dst_node || nodes_[static_cast<std::size_t>(l.to)].kind != NodeKind::gpu);
}

void Topology::finalize_dmodk() {
  const std::size_t n_nodes = nodes_.size();
  const std::size_t n_gpus = gpu_nodes_.size();
  for (const Link& l : links_)
    if (l.latency_ns * 1e3 >= static_cast<double>(std::uint64_t{1} << kHopShift) / 64)
      throw Error(fmt::format("topology '{}': link latency {} ns too large for routing", name_, l.latency_ns));
  std::vector<std::vector<int>> in_links(n_nodes);
  for (std::size_t l = 0; l < links_.size(); ++l)
    in_links[static_cast<std::size_t>(links_[l].to)].push_back(static_cast<int>(l));

  // A GPU's port on its leaf: its rank among the GPUs whose scale-out ("nic") link reaches the
  // same switch; a GPU without one uses its own index.
  leaf_port_.assign(n_gpus, 0);
  std::map<int, int> taken;  // leaf node -> ports handed out
  for (std::size_t g = 0; g < n_gpus; ++g) {
    int leaf = -1;
    for (int l : out_links_[static_cast<std::size_t>(gpu_nodes_[g])])
      if (links_[static_cast<std::size_t>(l)].link_class == "nic") {
        leaf = links_[static_cast<std::size_t>(l)].to;
        break;
      }
    leaf_port_[g] = leaf < 0 ? static_cast<int>(g) : taken[leaf]++;
  }

  dist_.assign(n_gpus * n_nodes, kNoRoute);
  using Item = std::pair<std::uint64_t, int>;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> heap;
  for (std::size_t d = 0; d < n_gpus; ++d) {
    const int dst_node = gpu_nodes_[d];
    std::uint64_t* dist = dist_.data() + d * n_nodes;
    dist[dst_node] = 0;
    heap.emplace(0, dst_node);
    while (!heap.empty()) {
      const auto [c, y] = heap.top();
      heap.pop();
      if (c != dist[y]) continue;
      for (int l : in_links[static_cast<std::size_t>(y)]) {
        if (!may_enter(l, dst_node)) continue;
        const int x = links_[static_cast<std::size_t>(l)].from;
        const std::uint64_t via = c + link_cost(l);
        if (via < dist[x]) {
          dist[x] = via;
          heap.emplace(via, x);
        }
      }
    }
    int reached_by = 0;
    for (std::size_t s = 0; s < n_gpus; ++s)
      if (s != d && dist[gpu_nodes_[s]] != kNoRoute) ++reached_by;
    for (std::size_t s = 0; s < n_gpus; ++s) {
      if (s == d || dist[gpu_nodes_[s]] != kNoRoute) continue;
      const int blamed = reached_by == 0 ? static_cast<int>(d) : static_cast<int>(s);
      throw RouteError(fmt::format("topology '{}': GPU '{}' (gpu {}) cannot reach GPU '{}' (gpu {})", name_,
                                   nodes_[static_cast<std::size_t>(gpu_nodes_[s])].name, s,
                                   nodes_[static_cast<std::size_t>(dst_node)].name, d),
                       static_cast<int>(s), static_cast<int>(d), blamed);
    }
  }
}

void Topology::route(int src_gpu, int dst_gpu, Path& out) const {
  out.clear();
  if (src_gpu == dst_gpu) return;
  if (routing_ == RoutingKind::ecmp) {
    const auto& ps = paths(src_gpu, dst_gpu);
    if (!ps.empty()) out = ps.front();
    return;
  }
  const int dst_node = gpu_node(dst_gpu);
  const std::uint64_t* dist = dist_.data() + static_cast<std::size_t>(dst_gpu) * nodes_.size();
  const auto port = static_cast<std::size_t>(leaf_port_[static_cast<std::size_t>(dst_gpu)]);
  // A link out of x on a cheapest path to dst.
  const auto cheapest = [&](int x, int l) {
    const int y = links_[static_cast<std::size_t>(l)].to;
    return may_enter(l, dst_node) && dist[y] != kNoRoute && dist[y] + link_cost(l) == dist[x];
  };
  for (int x = gpu_node(src_gpu); x != dst_node;) {
    const auto& links = out_links(x);
    const auto n = std::count_if(links.begin(), links.end(), [&](int l) { return cheapest(x, l); });
    if (n == 0) throw Error(fmt::format("topology '{}': no route from gpu {} to gpu {}", name_, src_gpu, dst_gpu));
    // The (port mod n)-th of them, in link id order.
    auto pick = static_cast<std::ptrdiff_t>(port % static_cast<std::size_t>(n));
    const auto it = std::find_if(links.begin(), links.end(), [&](int l) { return cheapest(x, l) && pick-- == 0; });
    out.push_back(*it);
    x = links_[static_cast<std::size_t>(*it)].to;
  }
}

}  // namespace moesim
