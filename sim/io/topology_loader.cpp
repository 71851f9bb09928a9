// Topology files: strict schema (unknown keys and out-of-range values are errors with a location);
// the generator form builds through net/topology_generators, the explicit form node by node.
#include "io/topology_loader.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <optional>
#include <vector>

#include "core/limits.hpp"
#include "io/toml_reader.hpp"
#include "net/topology_generators.hpp"

namespace moesim::io {

namespace {

constexpr double kMaxLatency_ns = 1e9;  // a generous ceiling that still catches unit slips

// A link rate in GB/s within what can be simulated (core/limits.hpp).
double rate_GBps(TableReader& r, std::string_view key) { return r.number(key, kMinRate_GBps, kMaxRate_GBps); }

ScaleOutSpec read_scaleout(TableReader& s, bool hgx) {
  ScaleOutSpec so;
  so.nic_Gbps = s.number("nic_Gbps", kMinRate_GBps * 8, kMaxRate_GBps * 8);
  so.nic_latency_ns = s.number_or("nic_latency_ns", so.nic_latency_ns, 0, kMaxLatency_ns);
  so.fabric_latency_ns = s.number_or("fabric_latency_ns", so.fabric_latency_ns, 0, kMaxLatency_ns);
  so.oversubscription = s.number_or("oversubscription", so.oversubscription, 1, 1000);
  so.spines = static_cast<int>(s.integer_or("spines", so.spines, 0, kMaxTopologyGpus));
  if (hgx)
    so.rail_optimized = s.boolean_or("rail_optimized", so.rail_optimized);
  else if (s.has("rail_optimized"))
    s.fail("rail_optimized", "applies only to kind = \"hgx\"");
  s.finish();
  return so;
}

void check_gpu_total(TableReader& r, std::string_view key, long long gpus) {
  if (gpus > kMaxTopologyGpus)
    r.fail(key, fmt::format("{} GPUs in all; at most {} are supported", gpus, kMaxTopologyGpus));
}

// Runs a generator; its own checks (cross-field ones the reader cannot see) point at [generator].
template <typename Spec, typename Make>
Topology generate(TableReader& gen, const Spec& spec, Make make) {
  try {
    return make(spec);
  } catch (const Error& e) {
    gen.fail_here(e.what());
  }
}

Topology build_from_generator(TableReader& gen, const std::string& name) {
  const std::string kind = gen.choice("kind", {"hgx", "nvl_rack"});
  if (kind == "hgx") {
    HgxSpec spec;
    spec.name = name;
    spec.nodes = static_cast<int>(gen.integer("nodes", 1, kMaxTopologyGpus));
    spec.gpus_per_node = static_cast<int>(gen.integer("gpus_per_node", 1, kMaxTopologyGpus));
    check_gpu_total(gen, "nodes", static_cast<long long>(spec.nodes) * spec.gpus_per_node);
    spec.nvlink_GBps = rate_GBps(gen, "nvlink_GBps");
    spec.nvlink_latency_ns = gen.number_or("nvlink_latency_ns", spec.nvlink_latency_ns, 0, kMaxLatency_ns);
    // Scale-out is required with several nodes; with one it is checked but unused.
    if (auto so = gen.table_opt("scaleout"))
      spec.scaleout = read_scaleout(*so, true);
    else if (spec.nodes > 1)
      gen.fail("scaleout", "[generator.scaleout] is required when nodes > 1");
    gen.finish();
    return generate(gen, spec, make_hgx);
  }
  NvlRackSpec spec;
  spec.name = name;
  spec.racks = static_cast<int>(gen.integer("racks", 1, kMaxTopologyGpus));
  spec.gpus_per_rack = static_cast<int>(gen.integer("gpus_per_rack", 1, kMaxTopologyGpus));
  check_gpu_total(gen, "racks", static_cast<long long>(spec.racks) * spec.gpus_per_rack);
  spec.gpus_per_tray = static_cast<int>(gen.integer("gpus_per_tray", 1, kMaxTopologyGpus));
  if (spec.gpus_per_rack % spec.gpus_per_tray != 0)
    gen.fail("gpus_per_tray", fmt::format("gpus_per_rack ({}) must be a multiple of gpus_per_tray ({})",
                                          spec.gpus_per_rack, spec.gpus_per_tray));
  spec.gpus_per_leaf = static_cast<int>(gen.integer_or("gpus_per_leaf", 0, 0, kMaxTopologyGpus));
  spec.nvlink_GBps = rate_GBps(gen, "nvlink_GBps");
  spec.nvlink_latency_ns = gen.number_or("nvlink_latency_ns", spec.nvlink_latency_ns, 0, kMaxLatency_ns);
  TableReader so = gen.table("scaleout");
  spec.scaleout = read_scaleout(so, false);
  gen.finish();
  return generate(gen, spec, make_nvl_racks);
}

Topology build_explicit(std::vector<TableReader>& nodes, std::vector<TableReader>& links, TableReader& root,
                        const std::string& name) {
  Topology topo(name);
  std::map<std::string, std::size_t> first_seen;  // name -> index into nodes
  long long gpus = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    TableReader& r = nodes[i];
    TopoNode n;
    n.name = r.string("name");
    if (n.name.empty()) r.fail("name", "must not be empty");
    if (auto it = first_seen.find(n.name); it != first_seen.end())
      r.fail("name", fmt::format("duplicate node name \"{}\" (first defined at {})", n.name,
                                 where(r.file(), &nodes[it->second].raw())));
    first_seen.emplace(n.name, i);
    const std::string kind = r.choice("kind", {"gpu", "nvswitch", "nic", "switch"});
    if (kind == "gpu") {
      n.kind = NodeKind::gpu;
      n.host = static_cast<int>(r.integer("host", 0, 1'000'000));
      n.domain = static_cast<int>(r.integer("domain", 0, 1'000'000));
      ++gpus;
    } else {
      n.kind = kind == "nvswitch" ? NodeKind::nvswitch : kind == "nic" ? NodeKind::nic : NodeKind::network_switch;
      for (const char* k : {"host", "domain"})
        if (r.has(k)) r.fail(k, "applies only to nodes of kind = \"gpu\"");
    }
    r.finish();
    topo.add_node(std::move(n));
  }
  if (gpus == 0) root.fail("node", "no node has kind = \"gpu\"");
  check_gpu_total(root, "node", gpus);

  std::map<std::pair<int, int>, std::string> defined;  // directed (a, b) -> where its [[link]] is
  for (TableReader& r : links) {
    auto endpoint = [&](const char* key) {
      const std::string n = r.string(key);
      const int id = topo.find_node(n);
      if (id < 0) r.fail(key, fmt::format("unknown node \"{}\"", n));
      return id;
    };
    const int a = endpoint("a");
    const int b = endpoint("b");
    if (a == b) r.fail("b", "a link must join two different nodes");
    const Bandwidth bw = Bandwidth::from_GBps(rate_GBps(r, "bandwidth_GBps"));
    const double lat = r.number("latency_ns", 0, kMaxLatency_ns);
    const std::string cls = r.string("class");
    if (cls.empty()) r.fail("class", "must not be empty");
    const bool duplex = r.boolean_or("duplex", true);
    r.finish();
    // A second link between the same nodes is almost always a copy-paste slip; parallel capacity
    // is one link with the summed bandwidth.
    for (const auto& dir :
         duplex ? std::vector<std::pair<int, int>>{{a, b}, {b, a}} : std::vector<std::pair<int, int>>{{a, b}}) {
      const auto [it, fresh] = defined.emplace(dir, where(r.file(), &r.raw()));
      if (!fresh)
        r.fail("a", fmt::format("duplicate link {} -> {} (first defined at {}); give one link the summed bandwidth",
                                topo.node(dir.first).name, topo.node(dir.second).name, it->second));
    }
    if (duplex)
      topo.add_duplex(a, b, bw, lat, cls);
    else
      topo.add_link(a, b, bw, lat, cls);
  }
  return topo;
}

}  // namespace

Topology load_topology(const std::string& path) { return load_topology_table(parse_toml_file(path), path); }

Topology load_topology_table(const toml::table& t, const std::string& file) {
  TableReader root(t, file);
  const std::string name = root.string_or("name", std::filesystem::path(file).stem().string());
  const double memory_GB = root.number_or("gpu_memory_GB", 0, 0, 1e6);
  const int max_ecmp = static_cast<int>(root.integer_or("max_ecmp", 16, 1, 1024));
  std::optional<TableReader> gen = root.table_opt("generator");
  // Generated fabrics are InfiniBand-like: deterministic D-mod-k unless the file asks for ECMP.
  const RoutingKind routing =
      *parse_setting<RoutingKind>(root.choice_or("routing", gen ? "dmodk" : "ecmp", setting_names<RoutingKind>()));
  std::vector<TableReader> nodes = root.tables("node");
  std::vector<TableReader> links = root.tables("link");
  root.finish();

  if (gen && (!nodes.empty() || !links.empty()))
    root.fail(nodes.empty() ? "link" : "node", "use either [generator] or [[node]]/[[link]] lists, not both");
  if (!gen && nodes.empty()) {
    if (!links.empty()) root.fail("link", "[[link]] entries need [[node]] entries");
    root.fail_here("no topology: give a [generator] table or [[node]] and [[link]] lists");
  }

  Topology topo = gen ? build_from_generator(*gen, name) : build_explicit(nodes, links, root, name);
  topo.gpu_memory_GB = memory_GB;
  if (routing == RoutingKind::ecmp && topo.gpu_count() > kMaxEcmpTopologyGpus)
    root.fail(gen ? "generator" : "node",
              fmt::format("{} GPUs with routing = \"ecmp\", which keeps every GPU pair's routes: at most {}; use "
                          "routing = \"dmodk\"",
                          topo.gpu_count(), kMaxEcmpTopologyGpus));
  try {
    topo.finalize(max_ecmp, routing);
  } catch (const RouteError& e) {
    // Point at the GPU most likely cut off (explicit form); a generator bug points at [generator].
    if (gen) gen->fail_here(e.what());
    std::size_t seen = 0;
    for (TableReader& r : nodes) {
      const toml::node* k = r.raw().get("kind");
      if (k && k->value_or(std::string_view{}) == "gpu" && static_cast<int>(seen++) == e.blamed_gpu)
        r.fail_here(fmt::format("{}; check the [[link]] entries of '{}'", e.what(),
                                topo.node(topo.gpu_node(e.blamed_gpu)).name));
    }
    throw InputError(fmt::format("{}: {}", file, e.what()));
  }
  return topo;
}

}  // namespace moesim::io
