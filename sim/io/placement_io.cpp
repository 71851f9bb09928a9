// Placement files: strict TOML / CSV reading with located errors, and writers that read back
// to the same Placement (see placement_io.hpp for the formats).
#include "io/placement_io.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "core/error.hpp"
#include "io/csv_text.hpp"
#include "io/toml_reader.hpp"

namespace moesim::io {

namespace {

using Layer = std::vector<std::vector<int>>;  // [expert] -> GPUs
std::size_t at(std::int64_t i) { return static_cast<std::size_t>(i); }

std::string located(const std::string& file, const toml::source_region& r) {
  return r.begin.line == 0 ? file : fmt::format("{}:{}:{}", file, r.begin.line, r.begin.column);
}

// TableReader has no accessor for nested arrays, so `experts` is read from the raw table and the
// unknown-key check (TableReader::finish) is done here against the list of known keys.
void reject_unknown_keys(const TableReader& t, std::initializer_list<std::string_view> known) {
  for (const auto& [k, v] : t.raw())
    if (std::find(known.begin(), known.end(), k.str()) == known.end())
      throw InputError(fmt::format("{}: unknown key \"{}\"", located(t.file(), k.source()), t.full_key(k.str())));
}

Layer read_experts(TableReader& t, int experts, int gpus) {
  const toml::node* node = t.raw().get("experts");
  if (!node) t.fail("experts", "required key is missing (one GPU list per expert)");
  const toml::array* arr = node->as_array();
  if (!arr) t.fail("experts", "expected an array of GPU lists, one per expert");
  if (arr->size() != at(experts))
    t.fail("experts", fmt::format("lists {} experts but the model has {} per MoE layer", arr->size(), experts));
  Layer layer(at(experts));
  const std::string key = t.full_key("experts");
  for (std::size_t e = 0; e < arr->size(); ++e) {
    const toml::node& el = *arr->get(e);
    const auto fail = [&](const toml::node& n, const std::string& what) {
      throw InputError(fmt::format("{}: {}: expert {} {}", where(t.file(), &n), key, e, what));
    };
    const toml::array* gl = el.as_array();
    if (!gl) fail(el, "must be a list of GPU ids, e.g. [3] or [3, 40]");
    if (gl->empty()) fail(el, "has no GPU (every expert needs at least one replica)");
    for (const toml::node& gn : *gl) {
      if (!gn.is_integer()) fail(gn, "lists a GPU id that is not an integer");
      const std::int64_t g = gn.as_integer()->get();
      if (g < 0 || g >= gpus) fail(gn, fmt::format("is placed on GPU {}, but GPUs are 0..{}", g, gpus - 1));
      auto& list = layer[e];
      if (std::find(list.begin(), list.end(), static_cast<int>(g)) != list.end())
        fail(gn, fmt::format("lists GPU {} twice", g));
      list.push_back(static_cast<int>(g));
    }
  }
  return layer;
}

// Every layer from its own listing or the default; names the missing ones.
std::vector<Layer> resolve(const std::string& path, std::vector<std::optional<Layer>>& own,
                           const std::optional<Layer>& fallback, const char* how) {
  std::vector<Layer> out;
  std::vector<std::size_t> missing;
  for (std::size_t l = 0; l < own.size(); ++l) {
    if (own[l])
      out.push_back(std::move(*own[l]));
    else if (fallback)
      out.push_back(*fallback);
    else
      missing.push_back(l);
  }
  if (!missing.empty())
    throw InputError(fmt::format("{}: MoE layer{} {} {} not listed and there is no default ({})", path,
                                 missing.size() > 1 ? "s" : "", fmt::join(missing, ", "),
                                 missing.size() > 1 ? "are" : "is", how));
  return out;
}

Placement load_toml(const std::string& path, int moe_layers, int experts, int gpus) {
  const toml::table root = parse_toml_file(path);
  TableReader r(root, path);
  if (r.has("gpus")) {
    const std::int64_t g = r.integer("gpus", 1, std::numeric_limits<int>::max());
    if (g != gpus) r.fail("gpus", fmt::format("the file is for {} GPUs but the run has {}", g, gpus));
  }
  std::vector<TableReader> tables = r.tables("layer");
  r.finish();
  if (tables.empty()) throw InputError(fmt::format("{}: no [[layer]] tables", path));
  std::vector<std::optional<Layer>> own(at(moe_layers));
  std::optional<Layer> fallback;
  for (TableReader& t : tables) {
    reject_unknown_keys(t, {"index", "default", "experts"});
    const bool is_default = t.boolean_or("default", false);
    if (is_default) {
      if (t.has("index"))
        t.fail("index", "a default layer (default = true) applies to all unlisted layers; drop index");
      if (fallback) t.fail("default", "a second default layer");
      fallback = read_experts(t, experts, gpus);
    } else {
      if (!t.has("index"))
        t.fail("index", "required key is missing (or default = true for the layer applying to all unlisted ones)");
      const auto index = t.integer("index", 0, moe_layers - 1);
      if (own[at(index)]) t.fail("index", fmt::format("MoE layer {} is listed twice", index));
      own[at(index)] = read_experts(t, experts, gpus);
    }
  }
  return Placement(gpus, resolve(path, own, fallback, "a [[layer]] with default = true"));
}

Placement load_csv(const std::string& path, int moe_layers, int experts, int gpus) {
  struct Rows {  // one layer's rows, or the default's
    std::optional<Layer> layer;
    std::uint64_t first_line = 0;
    std::vector<std::vector<std::uint64_t>> lines;  // [expert][replica] line of the row
  };
  std::vector<Rows> own(at(moe_layers));
  Rows fallback;
  TextLines lines(path);
  std::string line;
  bool first = true;
  while (lines.next(line)) {
    const auto fail = [&](const std::string& what) {
      throw InputError(fmt::format("{}:{}: {}", path, lines.no(), what));
    };
    const auto f = split_csv(line);
    if (first && !f.empty() && f[0] == "layer") {  // header
      if (f.size() != 3 || f[1] != "expert" || f[2] != "gpu") fail("the header must be layer,expert,gpu");
      first = false;
      continue;
    }
    first = false;
    if (f.size() != 3) fail(fmt::format("expected 3 fields (layer,expert,gpu), got {}", f.size()));
    const auto field = [&](std::string_view s, const char* name, int count) {
      const auto v = parse_int(s);
      if (!v || *v < 0 || *v >= count) fail(fmt::format("{} \"{}\" is not an integer in 0..{}", name, s, count - 1));
      return static_cast<int>(*v);
    };
    Rows& rows = f[0] == "*" ? fallback : own[at(field(f[0], "layer", moe_layers))];
    const int e = field(f[1], "expert", experts);
    const int g = field(f[2], "gpu", gpus);
    if (!rows.layer) {
      rows.layer.emplace(at(experts));
      rows.lines.resize(at(experts));
      rows.first_line = lines.no();
    }
    auto& list = (*rows.layer)[at(e)];
    const auto dup = std::find(list.begin(), list.end(), g);
    if (dup != list.end())
      fail(fmt::format("expert {} is placed on GPU {} twice (first on line {})", e, g,
                       rows.lines[at(e)][at(dup - list.begin())]));
    list.push_back(g);
    rows.lines[at(e)].push_back(lines.no());
  }
  const auto check = [&](const Rows& rows, const std::string& name) {
    if (!rows.layer) return;
    for (std::size_t e = 0; e < rows.layer->size(); ++e)
      if ((*rows.layer)[e].empty())
        throw InputError(fmt::format("{}:{}: {} (rows from line {}) has no row for expert {}", path, rows.first_line,
                                     name, rows.first_line, e));
  };
  check(fallback, "the default layer *");
  std::vector<std::optional<Layer>> layers(at(moe_layers));
  for (std::size_t l = 0; l < own.size(); ++l) {
    check(own[l], fmt::format("MoE layer {}", l));
    layers[l] = std::move(own[l].layer);
  }
  return Placement(gpus, resolve(path, layers, fallback.layer, "rows with layer *"));
}

bool all_layers_equal(const Placement& p) {
  for (int l = 1; l < p.layers(); ++l)
    for (int e = 0; e < p.experts(); ++e)
      if (p.replicas(l, e) != p.replicas(0, e)) return false;
  return true;
}

}  // namespace

Placement load_placement(const std::string& path, int moe_layers, int experts, int gpus) {
  if (moe_layers < 1 || experts < 1 || gpus < 1)
    throw InputError(fmt::format("{}: placement for {} MoE layers, {} experts, {} GPUs: each must be >= 1", path,
                                 moe_layers, experts, gpus));
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (ext == ".toml") return load_toml(path, moe_layers, experts, gpus);
  if (ext == ".csv") return load_csv(path, moe_layers, experts, gpus);
  throw InputError(fmt::format("{}: a placement file must end in .toml or .csv", path));
}

std::string placement_to_toml(const Placement& p) {
  std::string out = "# moesim expert placement: per MoE layer, the GPUs hosting each expert (its replicas)\n";
  out += fmt::format("gpus = {}\n", p.gpus());
  const bool same = all_layers_equal(p);
  for (int l = 0; l < (same ? 1 : p.layers()); ++l) {
    out += same ? "\n[[layer]]\ndefault = true\nexperts = [" : fmt::format("\n[[layer]]\nindex = {}\nexperts = [", l);
    for (int e = 0; e < p.experts(); ++e)  // 16 experts a line
      out += fmt::format("{}[{}],", e % 16 == 0 ? "\n  " : " ", fmt::join(p.replicas(l, e), ", "));
    out += "\n]\n";
  }
  return out;
}

std::string placement_to_csv(const Placement& p) {
  std::string out = "# moesim expert placement: one row per replica; layer * applies to every layer not listed\n";
  out += "layer,expert,gpu\n";
  const bool same = all_layers_equal(p);
  for (int l = 0; l < (same ? 1 : p.layers()); ++l)
    for (int e = 0; e < p.experts(); ++e)
      for (int g : p.replicas(l, e)) out += same ? fmt::format("*,{},{}\n", e, g) : fmt::format("{},{},{}\n", l, e, g);
  return out;
}

}  // namespace moesim::io
