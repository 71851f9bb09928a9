// Topology graph, generators, routes (ECMP, never through a GPU), summary figures, shipped files.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include <filesystem>
#include <sstream>

#include "io/topology_loader.hpp"
#include "net/topology.hpp"
#include "net/topology_generators.hpp"
#include "report/topology_report.hpp"
#include "test_util.hpp"

using moesim::Topology;

namespace {

std::vector<std::string> path_classes(const Topology& t, const moesim::Path& p) {
  std::vector<std::string> out;
  for (int l : p) out.push_back(t.link(l).link_class);
  return out;
}

// Every path is a chain of links from src GPU to dst GPU, never entering another GPU, and the
// paths of a pair are distinct, equally long and sorted.
void check_path(const Topology& t, int s, int d, const moesim::Path& p) {
  REQUIRE(t.link(p.front()).from == t.gpu_node(s));
  REQUIRE(t.link(p.back()).to == t.gpu_node(d));
  for (std::size_t k = 0; k + 1 < p.size(); ++k) {
    REQUIRE(t.link(p[k]).to == t.link(p[k + 1]).from);
    REQUIRE(t.node(t.link(p[k]).to).kind != moesim::NodeKind::gpu);
  }
}

// ECMP: every pair's paths are valid, equally long and sorted. D-mod-k: every pair's route is
// one of the cheapest paths the same topology has under ECMP.
void check_routes(const Topology& t) {
  Topology ecmp = t;
  if (t.routing() == moesim::RoutingKind::dmodk) ecmp.finalize(t.max_ecmp(), moesim::RoutingKind::ecmp);
  moesim::Path route;
  for (int s = 0; s < t.gpu_count(); ++s) {
    for (int d = 0; d < t.gpu_count(); ++d) {
      const auto& ps = ecmp.paths(s, d);
      if (s == d) {
        REQUIRE(ps.empty());
        continue;
      }
      REQUIRE(!ps.empty());
      for (std::size_t i = 0; i < ps.size(); ++i) {
        const auto& p = ps[i];
        REQUIRE(p.size() == ps[0].size());
        check_path(t, s, d, p);
        if (i > 0) REQUIRE(ps[i - 1] < p);
      }
      if (t.routing() != moesim::RoutingKind::dmodk) continue;
      t.route(s, d, route);
      // Equal cost; found among the stored paths unless ECMP capped them at max_ecmp.
      REQUIRE(route.size() == ps[0].size());
      check_path(t, s, d, route);
      if (static_cast<int>(ps.size()) < t.max_ecmp()) REQUIRE(std::find(ps.begin(), ps.end(), route) != ps.end());
    }
  }
}

moesim::HgxSpec hgx(int nodes) {
  moesim::HgxSpec s;
  s.nodes = nodes;
  s.gpus_per_node = 8;
  s.nvlink_GBps = 450;
  s.scaleout.nic_Gbps = 400;
  return s;
}

moesim::NvlRackSpec nvl(int racks) {
  moesim::NvlRackSpec s;
  s.racks = racks;
  s.gpus_per_rack = 72;
  s.gpus_per_tray = 4;
  s.nvlink_GBps = 900;
  s.scaleout.nic_Gbps = 400;
  return s;
}

}  // namespace

TEST_CASE("hgx single node: 8 GPUs, NVLink-only 2-link routes, bisection") {
  Topology t = moesim::make_hgx(hgx(1));
  t.finalize();
  REQUIRE(t.gpu_count() == 8);
  REQUIRE(t.node_count() == 9);  // 8 GPUs + 1 NVSwitch, no NICs with one node
  check_routes(t);
  REQUIRE(t.paths(0, 7).size() == 1);
  REQUIRE(path_classes(t, t.paths(0, 7)[0]) == std::vector<std::string>{"nvlink", "nvlink"});
  REQUIRE(t.nvlink_only(3, 5));
  REQUIRE(t.gpu_host(7) == 0);
  REQUIRE(t.path_latency_ns(t.paths(0, 1)[0]) == Approx(2 * 500.0));

  const auto s = t.summarize();
  // GPUs 0-3 each push at most 450 GB/s into the NVSwitch (and 4-7 each take 450 GB/s out):
  // min cut = 4 x 450 GB/s = 1800 GB/s.
  REQUIRE(s.bisection.GBps() == Approx(1800.0));
  REQUIRE(s.injection.GBps() == Approx(450.0));
  REQUIRE(s.scaleout_injection.GBps() == 0.0);
  REQUIRE(s.max_ecmp_paths == 1);
  REQUIRE(s.max_path_links == 2);
  REQUIRE(s.hosts == 1);
  REQUIRE(s.domains == 1);
  REQUIRE(s.classes.size() == 1);
  REQUIRE(s.classes[0].links == 16);
  REQUIRE(s.classes[0].total.GBps() == Approx(16 * 450.0));
}

TEST_CASE("hgx x4 rail-optimised: NVLink inside, rail leaf across, spines across rails") {
  Topology t = moesim::make_hgx(hgx(4));
  t.finalize();
  REQUIRE(t.gpu_count() == 32);
  check_routes(t);
  // Same node: NVSwitch, shorter than any NIC path.
  REQUIRE(path_classes(t, t.paths(0, 1).at(0)) == std::vector<std::string>{"nvlink", "nvlink"});
  // GPU 0 of node 0 to GPU 0 of node 1: same rail, one leaf.
  REQUIRE(t.paths(0, 8).size() == 1);
  REQUIRE(path_classes(t, t.paths(0, 8)[0]) == std::vector<std::string>{"nic", "nic"});
  REQUIRE_FALSE(t.nvlink_only(0, 8));
  // Different rail and node: leaf -> spine -> leaf, ECMP over the default 8 / 2 = 4 spines.
  REQUIRE(t.paths(0, 9).size() == 4);
  for (const auto& p : t.paths(0, 9))
    REQUIRE(path_classes(t, p) == std::vector<std::string>{"nic", "fabric", "fabric", "nic"});
  REQUIRE(t.node(t.link(t.paths(0, 9)[0][1]).to).name == "spine0");
  REQUIRE(t.gpu_host(9) == 1);
  REQUIRE(t.gpu_domain(9) == 1);

  const auto s = t.summarize();
  REQUIRE(s.scaleout_injection.GBps() == Approx(50.0));  // 400 Gb/s / 8
  REQUIRE(s.injection.GBps() == Approx(500.0));          // 450 NVLink + 50 NIC
  REQUIRE(s.max_ecmp_paths == 4);
  REQUIRE(s.max_path_links == 4);
  REQUIRE(s.hosts == 4);
  // Nodes 0-1 vs 2-3: NVLink stays inside a node, so the cut is the 16 NICs of one half:
  // 16 x 50 GB/s = 800 GB/s.
  REQUIRE(s.bisection.GBps() == Approx(800.0));
}

TEST_CASE("hgx explicit spine count, ECMP cap and non-rail leaves") {
  auto spec = hgx(2);
  spec.scaleout.spines = 3;
  Topology t = moesim::make_hgx(spec);
  t.finalize();
  REQUIRE(t.paths(0, 9).size() == 3);
  t.finalize(2);
  REQUIRE(t.paths(0, 9).size() == 2);

  spec.scaleout.rail_optimized = false;  // one leaf per node: any cross-node pair crosses a spine
  Topology tor = moesim::make_hgx(spec);
  tor.finalize();
  check_routes(tor);
  REQUIRE(tor.paths(0, 8).size() == 3);
  REQUIRE(tor.paths(0, 8)[0].size() == 4);
}

TEST_CASE("nvl72 rack: NVLink inside the rack, trays as hosts") {
  Topology t = moesim::make_nvl_racks(nvl(1));
  t.finalize();
  REQUIRE(t.gpu_count() == 72);
  REQUIRE(path_classes(t, t.paths(0, 71).at(0)) == std::vector<std::string>{"nvlink", "nvlink"});
  REQUIRE(t.paths(0, 71).size() == 1);
  REQUIRE(t.gpu_host(3) == 0);
  REQUIRE(t.gpu_host(4) == 1);
  REQUIRE(t.gpu_host(71) == 17);
  REQUIRE(t.gpu_domain(71) == 0);
  const auto s = t.summarize();
  REQUIRE(s.hosts == 18);
  REQUIRE(s.scaleout_injection.GBps() == Approx(50.0));  // NICs exist even with one rack
  // Half the rack (36 GPUs) sends through the NVLink switch and, in parallel, through its NICs
  // into the rack's one leaf: 36 x (900 + 50) GB/s = 34200 GB/s.
  REQUIRE(s.bisection.GBps() == Approx(36 * (900.0 + 50.0)));
}

TEST_CASE("two nvl72 racks: cross-rack path through a spine, oversubscription halves bisection") {
  auto spec = nvl(2);
  Topology t = moesim::make_nvl_racks(spec);
  t.finalize();
  REQUIRE(t.gpu_count() == 144);
  check_routes(t);
  REQUIRE(t.gpu_domain(72) == 1);
  REQUIRE(t.gpu_host(72) == 18);
  REQUIRE(path_classes(t, t.paths(1, 2).at(0)) == std::vector<std::string>{"nvlink", "nvlink"});
  // One leaf per rack (2 leaves) -> default max(1, 2 / 2) = 1 spine.
  REQUIRE(t.paths(0, 72).size() == 1);
  REQUIRE(path_classes(t, t.paths(0, 72)[0]) == std::vector<std::string>{"nic", "fabric", "fabric", "nic"});
  // Rack 0 vs rack 1: 72 NICs x 50 GB/s = 3600 GB/s, and the leaf uplinks carry the same at 1:1.
  REQUIRE(t.summarize().bisection.GBps() == Approx(3600.0));

  spec.scaleout.oversubscription = 2.0;
  spec.gpus_per_leaf = 18;  // 4 leaves per rack, 8 leaves, default 4 spines
  Topology o = moesim::make_nvl_racks(spec);
  o.finalize();
  REQUIRE(o.paths(0, 72).size() == 4);
  // Each leaf: 18 x 50 = 900 GB/s down, 900 / 2 = 450 GB/s up; rack 0's 4 leaves: 4 x 450 = 1800.
  REQUIRE(o.summarize().bisection.GBps() == Approx(1800.0));
}

TEST_CASE("generators reject bad specs with InputError") {
  auto h = hgx(1);
  h.nodes = 0;
  REQUIRE_THROWS_AS(moesim::make_hgx(h), moesim::InputError);
  h = hgx(2);
  h.nvlink_GBps = 0;
  REQUIRE_THROWS_WITH(moesim::make_hgx(h), Catch::Contains("nvlink_GBps"));
  h = hgx(2);
  h.scaleout.oversubscription = 0.5;
  REQUIRE_THROWS_WITH(moesim::make_hgx(h), Catch::Contains("oversubscription"));
  auto r = nvl(1);
  r.gpus_per_tray = 5;
  REQUIRE_THROWS_WITH(moesim::make_nvl_racks(r), Catch::Contains("gpus_per_tray"));
  r = nvl(1);
  r.scaleout.nic_Gbps = -1;
  REQUIRE_THROWS_AS(moesim::make_nvl_racks(r), moesim::InputError);
}

TEST_CASE("routes never pass through a GPU, unreachable pairs are named") {
  Topology t("chain");
  const int a = t.add_node({"a", moesim::NodeKind::gpu});
  const int b = t.add_node({"b", moesim::NodeKind::gpu});
  const int c = t.add_node({"c", moesim::NodeKind::gpu});
  t.add_duplex(a, b, moesim::Bandwidth::from_GBps(100), 10, "nvlink");
  t.add_duplex(b, c, moesim::Bandwidth::from_GBps(100), 10, "nvlink");
  // a -> c would have to forward through GPU b.
  REQUIRE_THROWS_WITH(t.finalize(), Catch::Contains("'a'") && Catch::Contains("'c'"));
  REQUIRE_THROWS_AS(t.add_node({"b", moesim::NodeKind::nvswitch}), moesim::Error);
  const int sw = t.add_node({"sw", moesim::NodeKind::network_switch});
  t.add_duplex(a, sw, moesim::Bandwidth::from_GBps(50), 10, "pcie");
  t.add_duplex(c, sw, moesim::Bandwidth::from_GBps(50), 10, "pcie");
  t.finalize();
  REQUIRE(t.paths(0, 1).size() == 1);
  REQUIRE(t.paths(0, 1)[0].size() == 1);  // a direct GPU-GPU link is fine
  REQUIRE(path_classes(t, t.paths(0, 2).at(0)) == std::vector<std::string>{"pcie", "pcie"});
}

TEST_CASE("write_dot merges symmetric duplex pairs") {
  Topology t = moesim::make_hgx(hgx(1));
  t.finalize();
  std::ostringstream os;
  t.write_dot(os);
  const std::string dot = os.str();
  REQUIRE(dot.find("digraph") == 0);
  REQUIRE(dot.find("nvlink 450 GB/s") != std::string::npos);
  REQUIRE(dot.find("dir=none") != std::string::npos);
  std::size_t edges = 0;
  for (std::size_t p = dot.find(" -> "); p != std::string::npos; p = dot.find(" -> ", p + 1)) ++edges;
  REQUIRE(edges == 8);  // 16 directed links, 8 duplex pairs
}

TEST_CASE("shipped topology files load, finalize and summarize") {
  namespace fs = std::filesystem;
  int files = 0;
  for (const auto& e : fs::directory_iterator(moesim::test::source_path("topologies"))) {
    if (e.path().extension() != ".toml") continue;
    INFO(e.path().string());
    Topology t = moesim::io::load_topology(e.path().string());
    REQUIRE(t.finalized());
    REQUIRE(t.gpu_count() > 0);
    check_routes(t);
    const auto s = t.summarize();
    REQUIRE(s.bisection.GBps() > 0);
    REQUIRE(moesim::topology_summary_text(s).find("bisection") != std::string::npos);
    ++files;
  }
  REQUIRE(files >= 5);

  Topology h = moesim::io::load_topology(moesim::test::source_path("topologies/hgx-h100.toml"));
  REQUIRE(h.name() == "hgx-h100");
  REQUIRE(h.gpu_count() == 8);
  REQUIRE(h.gpu_memory_GB == 80);
  REQUIRE(h.summarize().bisection.GBps() == Approx(1800.0));
  Topology n = moesim::io::load_topology(moesim::test::source_path("topologies/gb200-nvl72-x2.toml"));
  REQUIRE(n.gpu_count() == 144);
  REQUIRE(n.gpu_memory_GB == 186);
  REQUIRE(n.routing() == moesim::RoutingKind::dmodk);  // generated fabrics default to D-mod-k
  Topology ne = n;
  ne.finalize(n.max_ecmp(), moesim::RoutingKind::ecmp);
  REQUIRE(ne.paths(0, 72).size() == 4);  // 8 leaves of 18 GPUs -> 4 spines
  const std::string text = moesim::topology_summary_text(n.summarize());
  REQUIRE(text.find("3600.0 GB/s") != std::string::npos);  // 72 NICs x 50 GB/s at 1:1
}

TEST_CASE("D-mod-k: one tree per destination, a leaf's uplinks spread over a destination leaf's GPUs") {
  moesim::HgxSpec spec = hgx(4);  // rail-optimised: GPU i of every node on leaf i, 4 spines
  Topology t = moesim::make_hgx(spec);
  t.finalize(16, moesim::RoutingKind::dmodk);
  check_routes(t);
  // The spine a route crosses (its 3rd link goes leaf -> spine).
  const auto spine_of = [&](int s, int d) {
    moesim::Path p;
    t.route(s, d, p);
    REQUIRE(p.size() == 4);  // GPU -> leaf -> spine -> leaf -> GPU
    return t.link(p[1]).to;
  };
  // From rail 0 (GPUs 0, 8, 16, 24) to rail 3 of nodes 0..3 (GPUs 3, 11, 19, 27): each destination
  // is reached through one spine whatever the source (a tree), and the four destinations use four
  // different spines (ECMP hashing may put several on one).
  std::set<int> spines;
  for (int node = 0; node < 4; ++node) {
    const int d = node * 8 + 3;
    const int first_src = node == 0 ? 8 : 0;  // rail 0 of another node (same node: NVLink)
    const int spine = spine_of(first_src, d);
    for (int src_node = 0; src_node < 4; ++src_node)
      if (src_node != node) REQUIRE(spine_of(src_node * 8, d) == spine);
    spines.insert(spine);
  }
  REQUIRE(spines.size() == 4);
  // Same rail stays on its leaf: two hops.
  moesim::Path p;
  t.route(0, 8, p);
  REQUIRE(p.size() == 2);
  REQUIRE_THROWS_AS(t.paths(0, 8), moesim::Error);  // no pair table under D-mod-k
  REQUIRE(t.summarize().max_path_links == 4);
  REQUIRE(t.summarize().max_ecmp_paths == 1);
}

TEST_CASE("renumbered_from: GPU first_gpu becomes 0, over the same links and routes") {
  for (const auto routing : {moesim::RoutingKind::ecmp, moesim::RoutingKind::dmodk}) {
    Topology t = moesim::make_hgx(hgx(4));
    t.finalize(16, routing);
    const Topology r = t.renumbered_from(8);
    REQUIRE(r.gpu_count() == t.gpu_count());
    REQUIRE(r.link_count() == t.link_count());
    const int n = t.gpu_count();
    for (int i = 0; i < n; ++i) {
      const int old = (i + 8) % n;  // wraps around: the first node's GPUs come last
      REQUIRE(r.gpu_node(i) == t.gpu_node(old));
      REQUIRE(r.node(r.gpu_node(i)).gpu == i);
      REQUIRE(r.gpu_host(i) == t.gpu_host(old));
    }
    for (int s = 0; s < n; s += 3)
      for (int d = 0; d < n; d += 5) {
        if (s == d) continue;
        moesim::Path a, b;
        r.route(s, d, a);
        t.route((s + 8) % n, (d + 8) % n, b);
        REQUIRE(a == b);
        if (routing == moesim::RoutingKind::ecmp) REQUIRE(r.paths(s, d) == t.paths((s + 8) % n, (d + 8) % n));
      }
  }
}
