// Communication benchmark conditions (see comm_setup_io.hpp).
#include "io/comm_setup_io.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <filesystem>

#include "io/toml_reader.hpp"
#include "io/topology_loader.hpp"

namespace moesim::io {

namespace {

// The setup keys of a [setup] table or a [[figure]]: each only where present, over `c`; file paths
// relative to `dir`.
void read_setup_keys(TableReader& r, const std::string& dir, CommSetup& c) {
  if (r.has("topology")) c.topology = resolve_path(dir, r.string("topology"));
  if (r.has("profile")) c.profile = resolve_path(dir, r.string("profile"));
  if (r.has("nodes")) c.nodes = static_cast<int>(r.integer("nodes", 1, kMaxTopologyGpus));
  if (r.has("kernel")) c.kernel = r.string("kernel");
  if (r.has("sms")) c.sms = static_cast<int>(r.integer("sms", 1, 1024));
  if (r.has("hidden")) c.hidden = static_cast<int>(r.integer("hidden", 1, 1 << 20));
  if (r.has("dispatch_dtype")) c.dispatch_dtype = r.choice("dispatch_dtype", {"bf16", "fp8"});
  if (r.has("combine_dtype")) c.combine_dtype = r.choice("combine_dtype", {"bf16", "fp8"});
  CommBenchSpec& s = c.spec;
  if (r.has("ep")) s.ep = static_cast<int>(r.integer("ep", 1, kMaxTopologyGpus));
  if (r.has("tokens")) s.tokens = static_cast<int>(r.integer("tokens", 1, 1 << 24));
  if (r.has("top_k")) s.top_k = static_cast<int>(r.integer("top_k", 1, 1 << 16));
  if (r.has("experts")) s.experts = static_cast<int>(r.integer("experts", 1, 1 << 20));
  if (r.has("dispatch_bytes")) s.dispatch_bytes = r.number("dispatch_bytes", 1, 1e9);
  if (r.has("combine_bytes")) s.combine_bytes = r.number("combine_bytes", 1, 1e9);
  if (r.has("routing")) {
    const std::string routing = r.choice("routing", {"uniform", "dense", "zipf"});
    s.dense = routing == "dense";
    s.gate.kind = routing == "zipf" ? GateModel::zipf : GateModel::uniform;
  }
  if (r.has("zipf_exponent")) s.gate.zipf_exponent = r.number("zipf_exponent", 0, 20);
  if (r.has("seed")) s.seed = static_cast<std::uint64_t>(r.integer("seed", 0, INT64_MAX));
  if (r.has("network"))
    s.network = *parse_setting<NetworkModelKind>(r.choice("network", setting_names<NetworkModelKind>()));
}

}  // namespace

double token_bytes(int hidden, const std::string& dtype) {
  if (dtype == "bf16") return 2.0 * hidden;
  if (dtype == "fp8") return hidden + hidden / 128.0 * 4;  // e4m3 values and one fp32 scale per 128
  throw InputError(fmt::format("element type \"{}\" is not bf16 or fp8", dtype));
}

void CommSetup::resolve_bytes() {
  if (spec.dispatch_bytes == 0) spec.dispatch_bytes = token_bytes(hidden, dispatch_dtype);
  if (spec.combine_bytes == 0) spec.combine_bytes = token_bytes(hidden, combine_dtype);
}

Topology load_topology_nodes(const std::string& path, int nodes) {
  toml::table t = parse_toml_file(path);
  if (nodes > 0) {
    toml::table* gen = t["generator"].as_table();
    if (gen == nullptr)
      throw InputError(
          fmt::format("{}: a node count is given, but the topology has no [generator] to apply it to", path));
    const auto* kind = gen->get_as<std::string>("kind");
    const std::string key = kind != nullptr && kind->get() == "nvl_rack" ? "racks" : "nodes";
    gen->insert_or_assign(key, nodes);
  }
  return load_topology_table(t, path);
}

PublishedSet load_published(const std::string& path) {
  const toml::table t = parse_toml_file(path);
  TableReader root(t, path);
  PublishedSet set;
  set.file = path;
  TableReader source = root.table("source");
  set.title = source.string("title");
  set.citation = source.string("citation");
  set.conditions = source.string("conditions");
  source.finish();
  const std::string dir = std::filesystem::path(path).parent_path().string();
  CommSetup base;
  TableReader setup = root.table("setup");
  read_setup_keys(setup, dir, base);
  setup.finish();
  for (TableReader& f : root.tables("figure")) {
    PublishedFigure fig;
    fig.where = where(path, &f.raw());
    fig.setup = base;
    read_setup_keys(f, dir, fig.setup);
    fig.label = f.string("label");
    fig.metric = f.choice("metric", comm_metric_names());
    fig.value = f.number("value", 1e-9, 1e12);
    fig.tolerance = f.number_or("tolerance", 0.15, 0.001, 1);
    f.finish();
    if (fig.setup.topology.empty() || fig.setup.profile.empty())
      throw InputError(fmt::format("{}: needs a topology and a profile (in [setup] or the figure)", fig.where));
    fig.setup.resolve_bytes();
    set.figures.push_back(std::move(fig));
  }
  root.finish();
  if (set.figures.empty()) throw InputError(fmt::format("{}: no [[figure]]", path));
  return set;
}

}  // namespace moesim::io
