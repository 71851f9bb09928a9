// Scenario TOML reader and writer (see scenario_loader.hpp).
#include "io/scenario_loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "io/scenario_schema.hpp"
#include "io/toml_reader.hpp"

namespace moesim::io {

namespace {

// A scenario name as a directory name: letters, digits, '.', '_' and '-', not starting with '.',
// 1 to 100 characters; anything else becomes '_'.
std::string safe_name(const std::string& name) {
  std::string out = name.substr(0, 100);
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '_';
  if (out.empty() || out.front() == '.') out.insert(0, "_");
  return out.substr(0, 100);
}

std::int64_t int_bound(double v) {  // the schema's bounds as integers (2^63 - 1 does not fit a double)
  return v >= 9.2e18 ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(v);
}

// Reads one key of `r` as the schema types it: required, or with its default.
KeyValue read_key(TableReader& r, const ScenarioKey& k, const Scenario& s, bool required) {
  const KeyValue fallback = required ? KeyValue{} : k.fallback ? k.fallback(s) : k.get(s);
  switch (k.type) {
    case KeyType::integer:
      return required ? r.integer(k.name, int_bound(k.min), int_bound(k.max))
                      : r.integer_or(k.name, std::get<std::int64_t>(fallback), int_bound(k.min), int_bound(k.max));
    case KeyType::number:
      return required ? r.number(k.name, k.min, k.max) : r.number_or(k.name, std::get<double>(fallback), k.min, k.max);
    case KeyType::boolean:
      return required ? r.boolean(k.name) : r.boolean_or(k.name, std::get<bool>(fallback));
    case KeyType::string:
    case KeyType::path:
      return required ? r.string(k.name) : r.string_or(k.name, std::get<std::string>(fallback));
    case KeyType::choice:
      return required ? r.choice(k.name, k.choices) : r.choice_or(k.name, std::get<std::string>(fallback), k.choices);
  }
  throw Error("scenario schema: unknown key type");
}

// Every key of `section` that the schema reads by itself, in the schema's order.
void read_section(TableReader& r, std::string_view section, Scenario& s) {
  for (const ScenarioKey& k : scenario_keys())
    if (k.section == section && (k.need == KeyNeed::optional || k.need == KeyNeed::required))
      k.set(s, read_key(r, k, s, k.need == KeyNeed::required));
}

// The model keys of a [model] table; `need`: the keys a preset would give are required.
void read_model_keys(TableReader& r, Scenario& s, bool need) {
  for (const ScenarioKey& k : scenario_keys()) {
    if (k.section != "model" || k.name == "preset" || k.name == "name") continue;
    if ((need && k.need == KeyNeed::without_preset) || r.has(k.name)) k.set(s, read_key(r, k, s, true));
  }
}

void read_model(TableReader& r, Scenario& s, const std::string& base_dir) {
  ModelSpec& m = s.model;
  if (r.has("preset")) {
    s.model_preset = r.string("preset");
    try {
      m = load_model_preset(s.model_preset, base_dir);
    } catch (const InputError& e) {
      r.fail("preset", e.what());
    }
  }
  m.name = r.string_or("name", m.name.empty() ? "custom" : m.name);
  // Explicit dims override the preset (or define the whole model when there is none).
  read_model_keys(r, s, s.model_preset.empty());
  r.finish();
  m.validate(where(r.file(), &r.raw()) + ": model");
}

bool is_path(const std::string& name) {
  return name.find('/') != std::string::npos || std::filesystem::path(name).extension() == ".toml";
}

}  // namespace

void apply_override(toml::table& table, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw InputError(fmt::format("--set {}: expected key=value", assignment));
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  const std::string origin = "--set " + assignment;
  // TOML would read a second line as another key and drop it from this one.
  if (value.find_first_of("\r\n") != std::string::npos)
    throw InputError(fmt::format("{}: a value cannot span lines", origin));
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value, origin);
  } catch (const toml::parse_error&) {
    // A bare word (round_robin, decode) is a string; quoting it in a shell is a nuisance.
    parsed = parse_toml_text("v = \"" + value + "\"", origin);
  }
  toml::table* t = &table;
  std::size_t begin = 0;
  while (true) {
    const auto dot = key.find('.', begin);
    const std::string part = key.substr(begin, dot == std::string::npos ? std::string::npos : dot - begin);
    if (part.empty()) throw InputError(fmt::format("{}: empty key component", origin));
    if (dot == std::string::npos) {
      t->insert_or_assign(part, *parsed.get("v"));
      return;
    }
    if (!t->contains(part)) t->insert(part, toml::table{});
    t = t->get(part)->as_table();
    if (!t) throw InputError(fmt::format("{}: \"{}\" is not a table", origin, part));
    begin = dot + 1;
  }
}

namespace {
void read_serving(TableReader& t, Scenario& s, const std::string& base_dir) {
  ServingSpec& v = s.serving;
  v.enabled = true;
  read_section(t, "serving", s);
  if (t.has("trace")) v.trace_path = resolve_path(base_dir, t.string("trace"));
  const bool empirical = v.prompt.kind == LengthKind::empirical || v.output.kind == LengthKind::empirical;
  if (v.trace_path.empty() && (v.arrival == ArrivalKind::trace || empirical))
    t.fail(v.arrival == ArrivalKind::trace ? "arrival" : (v.prompt.kind == LengthKind::empirical ? "prompt_dist" : "output_dist"),
           "needs a request trace (serving.trace)");
  for (auto [d, name] : {std::pair{&v.prompt, "prompt"}, std::pair{&v.output, "output"}}) {
    d->mean = d->value;
    if (d->min > d->max)
      t.fail(fmt::format("{}_min", name), fmt::format("{}_min {} exceeds {}_max {}", name, d->min, name, d->max));
  }
  if (v.disaggregated && v.mtp_draft_tokens < 0) t.fail("mtp_draft_tokens", "negative");
  t.finish();
}

// "file:line:col: table.key" of a key (of its table when absent), or the --set that gave it.
std::string key_where(const TableReader& t, std::string_view key, const std::map<std::string, std::string>* origins) {
  const std::string full = t.full_key(key);
  if (origins)
    if (const auto it = origins->find(full); it != origins->end()) return it->second + ": " + full;
  const toml::node* n = t.raw().get(key);
  return where(t.file(), n ? n : &t.raw()) + ": " + full;
}

Scenario read_scenario(const toml::table& table, const std::string& file, const std::string& base_dir,
                       std::shared_ptr<const std::map<std::string, std::string>> origins) {
  TableReader r(table, file);
  r.set_origins(origins);
  Scenario s;
  s.file = file;
  s.name = safe_name(std::filesystem::path(file).stem().string());
  read_section(r, "", s);
  // The name becomes a directory under results/: nothing that could leave it or vanish in it.
  if (s.name != safe_name(s.name))
    r.fail("name", fmt::format("{:?} is not a usable name: 1 to 100 letters, digits, '.', '_' or '-', not starting "
                               "with '.'",
                               s.name));

  TableReader model = r.table("model");
  read_model(model, s, base_dir);

  TableReader hw = r.table("hardware");
  read_section(hw, "hardware", s);
  s.topology_path = resolve_path(base_dir, s.topology_path);
  s.profile_path = resolve_path(base_dir, s.profile_path);
  // Where each path was given, so a missing file names the key that pointed to it.
  s.topology_where = key_where(hw, "topology", origins.get());
  s.profile_where = key_where(hw, "profile", origins.get());
  hw.finish();

  if (auto par = r.table_opt("parallelism")) {
    read_section(*par, "parallelism", s);
    par->finish();
  }

  // A serving scenario's batches come from its requests: [workload] is optional there.
  if (auto wl = table.contains("serving") ? r.table_opt("workload") : std::optional<TableReader>(r.table("workload"))) {
    read_section(*wl, "workload", s);
    wl->finish();
  }

  if (auto gate = r.table_opt("gate")) {
    // A routing preset gives the popularity fields; the table's own keys below override them.
    if (gate->has("preset")) {
      const std::string preset = gate->string("preset");
      try {
        s.gate = load_routing_preset(preset, base_dir);
      } catch (const InputError& e) {
        gate->fail("preset", e.what());
      }
    }
    const std::string kind = gate->choice_or("kind", s.gate.preset.empty() ? "uniform" : setting_string(s.gate.kind),
                                             scenario_key("gate", "kind").choices);
    if (kind == "trace") {
      if (!s.gate.preset.empty()) gate->fail("preset", "a routing preset sets a synthetic gate, not kind = \"trace\"");
      s.trace_path = resolve_path(base_dir, gate->string("trace"));
    } else {
      s.gate.kind = *parse_setting<GateModel>(kind);
      if (gate->has("trace")) gate->fail("trace", "only meaningful with kind = \"trace\"");
    }
    // Read (and range-checked) even for a uniform gate, so `--set gate.kind=uniform` works on a
    // Zipf scenario; the resolved scenario then omits it.
    read_section(*gate, "gate", s);
    gate->finish();
  }
  if (s.model.top_k > s.model.routed_experts)
    model.fail_here(fmt::format("top_k {} exceeds routed_experts {}", s.model.top_k, s.model.routed_experts));

  if (auto pl = r.table_opt("placement")) {
    read_section(*pl, "placement", s);
    // Named when the strategy refuses (it learns the GPU count only from the topology).
    const bool slots_given = s.placement == PlacementKind::redundant && pl->has("redundant_slots");
    s.placement_where = key_where(*pl, slots_given ? "redundant_slots" : "kind", origins.get());
    if (s.placement == PlacementKind::from_file)
      s.placement_file = resolve_path(base_dir, pl->string("file"));
    else if (pl->has("file"))
      pl->fail("file", "only meaningful with kind = \"from_file\"");
    if (s.rebalance_every_steps > 0 &&
        (s.placement == PlacementKind::contiguous || s.placement == PlacementKind::round_robin ||
         s.placement == PlacementKind::from_file))
      pl->fail("rebalance_every_steps", "needs a load-aware placement (greedy, redundant or topology_aware)");
    pl->finish();
  }
  for (std::string_view section : {"network", "overlap", "output"})
    if (auto t = r.table_opt(section)) {
      read_section(*t, section, s);
      t->finish();
    }
  if (auto sv = r.table_opt("serving")) read_serving(*sv, s, base_dir);
  std::map<int, std::string> gpu_faulted;  // GPU -> where its fault is
  for (TableReader& f : r.tables("faults")) {
    // Which keys an entry needs depends on its kind; their types and ranges come from the schema.
    auto key = [&](std::string_view name) -> KeyValue { return read_key(f, scenario_key("faults", name), s, true); };
    FaultSpec fault;
    fault.where = where(f.file(), &f.raw());
    fault.kind = *parse_setting<FaultKind>(std::get<std::string>(key("kind")));
    if (fault.kind == FaultKind::gpu_down || fault.kind == FaultKind::slow_gpu) {
      fault.gpu = static_cast<int>(std::get<std::int64_t>(key("gpu")));
      // Two faults on one GPU (down twice, or down and slow) would leave which one applies unclear.
      if (const auto [it, fresh] = gpu_faulted.emplace(fault.gpu, fault.where); !fresh)
        f.fail("gpu", fmt::format("GPU {} already has a fault (at {})", fault.gpu, it->second));
      if (fault.kind == FaultKind::slow_gpu) fault.compute_factor = std::get<double>(key("compute_factor"));
    } else {
      fault.a = std::get<std::string>(key("a"));
      fault.b = std::get<std::string>(key("b"));
      fault.duplex = f.boolean_or("duplex", true);
      if (fault.kind == FaultKind::link_degraded) fault.bandwidth_factor = std::get<double>(key("bandwidth_factor"));
    }
    f.finish();
    s.faults.push_back(fault);
  }
  r.finish();
  return s;
}
}  // namespace

std::string models_dir() {
  if (const char* env = std::getenv("MOESIM_MODELS_DIR"); env != nullptr && *env != '\0') return env;
  return MOESIM_MODELS_DIR;
}

std::vector<std::string> model_preset_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(models_dir(), ec))
    if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

namespace {
std::string preset_file(const std::string& name) {
  return (std::filesystem::path(models_dir()) / (name + ".toml")).string();
}

// A regular file; false, not an exception, for a name the OS refuses (too long, say).
bool regular_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}
}  // namespace

std::optional<ModelSpec> find_model_preset(const std::string& name) {
  if (is_path(name) || !regular_file(preset_file(name))) return std::nullopt;
  return load_model_preset(name);
}

ModelSpec load_model_preset(const std::string& name, const std::string& base_dir) {
  const std::string path = is_path(name) ? resolve_path(base_dir, name) : preset_file(name);
  if (!is_path(name) && !regular_file(path)) {
    std::string known;
    for (const auto& n : model_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError(fmt::format("unknown model preset \"{}\" (known: {}; presets are the TOML files in {})", name,
                                 known, models_dir()));
  }
  const toml::table table = parse_toml_file(path);
  TableReader root(table, path);
  TableReader r = root.table("model");
  Scenario s;  // the keys' accessors fill a scenario's model
  s.model.name = r.string_or("name", std::filesystem::path(path).stem().string());
  read_model_keys(r, s, true);
  r.finish();
  root.finish();
  s.model.validate(where(path, &r.raw()) + ": model");
  return s.model;
}

std::string routing_presets_dir() { return (std::filesystem::path(models_dir()) / "routing").string(); }

std::vector<std::string> routing_preset_names() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(routing_presets_dir(), ec))
    if (entry.path().extension() == ".toml") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

GateSpec load_routing_preset(const std::string& name, const std::string& base_dir) {
  const std::string path = is_path(name) ? resolve_path(base_dir, name)
                                         : (std::filesystem::path(routing_presets_dir()) / (name + ".toml")).string();
  if (!is_path(name) && !regular_file(path)) {
    std::string known;
    for (const auto& n : routing_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw InputError(fmt::format("unknown routing preset \"{}\" (known: {}; presets are the TOML files in {})", name,
                                 known, routing_presets_dir()));
  }
  const toml::table table = parse_toml_file(path);
  TableReader root(table, path);
  // Where the figures come from: required, so no preset ships without its evidence.
  TableReader source = root.table("source");
  for (std::string_view key : {"citation", "conditions", "fitted"}) source.string(key);
  source.finish();
  TableReader r = root.table("gate");
  Scenario s;  // the keys' accessors fill a scenario's gate
  std::vector<std::string> kinds = setting_names<GateModel>();
  s.gate.kind = *parse_setting<GateModel>(r.choice("kind", kinds));
  // The popularity keys only: capacity is a deployment's choice, not a property of the routing.
  for (const ScenarioKey& k : scenario_keys())
    if (k.section == "gate" && k.need == KeyNeed::optional && !k.name.starts_with("capacity") && r.has(k.name))
      k.set(s, read_key(r, k, s, true));
  r.finish();
  root.finish();
  s.gate.preset = name;
  return s.gate;
}

Scenario load_scenario_table(const toml::table& table, const std::string& file, const std::string& base_dir) {
  return read_scenario(table, file, base_dir, nullptr);
}

Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides) {
  toml::table t = parse_toml_file(path);
  auto origins = std::make_shared<std::map<std::string, std::string>>();
  for (const auto& o : overrides) {
    apply_override(t, o);
    (*origins)[o.substr(0, o.find('='))] = "--set " + o;
  }
  const std::string base = std::filesystem::absolute(path).parent_path().string();
  return read_scenario(t, path, base, std::move(origins));
}

namespace {
void insert_value(toml::table& t, std::string_view key, const KeyValue& v) {
  std::visit([&](const auto& x) { t.insert(key, x); }, v);
}
}  // namespace

std::string scenario_to_toml(const Scenario& s) {
  // Every section, even when all its keys are defaults; the keys the schema says are written.
  toml::table root;
  for (std::string_view section :
       {"model", "hardware", "parallelism", "workload", "gate", "placement", "network", "overlap", "output"})
    root.insert(section, toml::table{});
  if (s.serving.enabled) root.insert("serving", toml::table{});
  for (const ScenarioKey& k : scenario_keys()) {
    if (!k.get || k.section == "faults" || (k.written && !k.written(s))) continue;
    toml::table& t = k.section.empty() ? root : *root[k.section].as_table();
    insert_value(t, k.name, k.get(s));
  }
  toml::array faults;
  for (const FaultSpec& f : s.faults) {
    toml::table t{{"kind", setting_string(f.kind)}};
    if (f.kind == FaultKind::gpu_down) {
      t.insert("gpu", f.gpu);
    } else if (f.kind == FaultKind::slow_gpu) {
      t.insert("gpu", f.gpu);
      t.insert("compute_factor", f.compute_factor);
    } else {
      t.insert("a", f.a);
      t.insert("b", f.b);
      t.insert("duplex", f.duplex);
      if (f.kind == FaultKind::link_degraded) t.insert("bandwidth_factor", f.bandwidth_factor);
    }
    faults.push_back(std::move(t));
  }
  if (!faults.empty()) root.insert("faults", std::move(faults));
  std::ostringstream os;
  os << "# Resolved scenario written by moesim: every value explicit"
     << (s.model_preset.empty() ? "" : ", model preset \"" + s.model_preset + "\" expanded")
     << (s.gate.preset.empty() || !s.trace_path.empty() ? "" : ", routing preset \"" + s.gate.preset + "\" expanded")
     << ".\n";
  os << root << "\n";
  return os.str();
}

}  // namespace moesim::io
