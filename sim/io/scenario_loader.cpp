// Scenario TOML reader and writer (see scenario_loader.hpp).
#include "io/scenario_loader.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <limits>
#include <sstream>

#include "core/error.hpp"
#include "io/toml_reader.hpp"
#include "moe/placement_strategies.hpp"

namespace moesim::io {

namespace {

constexpr std::int64_t kMaxDim = 1 << 20;
constexpr std::int64_t kMaxSteps = 1'000'000;

std::string resolve(const std::string& base_dir, const std::string& p) {
  std::filesystem::path path(p);
  if (path.is_relative()) path = std::filesystem::path(base_dir) / path;
  return path.lexically_normal().string();
}

void read_model(TableReader& r, Scenario& s) {
  ModelSpec& m = s.model;
  if (r.has("preset")) {
    s.model_preset = r.string("preset");
    auto preset = model_preset(s.model_preset);
    if (!preset) {
      std::string names;
      for (const auto& n : model_preset_names()) names += (names.empty() ? "" : ", ") + n;
      r.fail("preset", fmt::format("unknown model preset \"{}\" (known: {})", s.model_preset, names));
    }
    m = *preset;
  }
  // Explicit dims override the preset (or define the whole model when there is none).
  const bool need = s.model_preset.empty();
  auto dim = [&](const char* key, int& field, std::int64_t min) {
    if (need || r.has(key)) field = static_cast<int>(r.integer(key, min, kMaxDim));
  };
  auto opt_dim = [&](const char* key, int& field) {
    if (r.has(key)) field = static_cast<int>(r.integer(key, 0, kMaxDim));
  };
  auto real = [&](const char* key, double& field, double min, double max, bool required) {
    if ((need && required) || r.has(key)) field = r.number(key, min, max);
  };
  m.name = r.string_or("name", m.name.empty() ? "custom" : m.name);
  dim("hidden", m.hidden, 1);
  dim("layers", m.layers, 1);
  opt_dim("dense_layers", m.dense_layers);
  dim("routed_experts", m.routed_experts, 1);
  opt_dim("shared_experts", m.shared_experts);
  dim("top_k", m.top_k, 1);
  dim("expert_ffn", m.expert_ffn, 1);
  opt_dim("shared_ffn", m.shared_ffn);
  opt_dim("dense_ffn", m.dense_ffn);
  real("attn_params", m.attn_params, 0, 1e12, true);
  real("kv_bytes_per_token", m.kv_bytes_per_token, 0, 1e9, true);
  real("attn_weight_bytes", m.attn_weight_bytes, 0, 8, false);
  real("attn_flops_per_ctx", m.attn_flops_per_ctx, 0, 1e12, false);
  real("attn_prefill_flops_per_ctx", m.attn_prefill_flops_per_ctx, 0, 1e12, false);
  real("weight_bytes", m.weight_bytes, 0.01, 8, false);
  real("dispatch_bytes", m.dispatch_bytes, 0.01, 8, false);
  real("combine_bytes", m.combine_bytes, 0.01, 8, false);
  r.finish();
  m.validate(where(r.file(), &r.raw()) + ": model");
}

}  // namespace

void apply_override(toml::table& table, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(fmt::format("--set {}: expected key=value", assignment));
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  const std::string origin = "--set " + assignment;
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
Scenario read_scenario(const toml::table& table, const std::string& file, const std::string& base_dir,
                       std::shared_ptr<const std::map<std::string, std::string>> origins) {
  TableReader r(table, file);
  r.set_origins(std::move(origins));
  Scenario s;
  s.file = file;
  s.name = r.string_or("name", std::filesystem::path(file).stem().string());
  s.seed = static_cast<std::uint64_t>(r.integer_or("seed", 1, 0, std::numeric_limits<std::int64_t>::max()));

  TableReader model = r.table("model");
  read_model(model, s);

  TableReader hw = r.table("hardware");
  s.topology_path = resolve(base_dir, hw.string("topology"));
  s.profile_path = resolve(base_dir, hw.string("profile"));
  hw.finish();

  if (auto par = r.table_opt("parallelism")) {
    s.ep_size = static_cast<int>(par->integer_or("ep", 0, 0, 1 << 16));
    par->finish();
  }

  TableReader wl = r.table("workload");
  s.workload.phase = wl.choice_or("phase", "decode", {"decode", "prefill"});
  s.workload.tokens_per_gpu = static_cast<int>(wl.integer("tokens_per_gpu", 1, 1 << 20));
  s.workload.kv_len = static_cast<int>(wl.integer_or("kv_len", s.prefill() ? 0 : 4096, 0, 1 << 24));
  s.workload.steps = static_cast<int>(wl.integer_or("steps", 10, 1, kMaxSteps));
  wl.finish();

  if (auto gate = r.table_opt("gate")) {
    const std::string kind = gate->choice_or("kind", "uniform", {"uniform", "zipf", "lognormal", "trace"});
    if (kind == "trace") {
      s.trace_path = resolve(base_dir, gate->string("trace"));
    } else {
      s.gate.kind = kind;
      if (gate->has("trace")) gate->fail("trace", "only meaningful with kind = \"trace\"");
    }
    // Read (and range-checked) even for a uniform gate, so `--set gate.kind=uniform` works on a
    // Zipf scenario; the resolved scenario then omits it.
    s.gate.zipf_exponent = gate->number_or("zipf_exponent", 1.0, 0.0, 20.0);
    s.gate.lognormal_sigma = gate->number_or("lognormal_sigma", 1.0, 0.0, 10.0);
    s.gate.layer_variation = gate->boolean_or("layer_variation", false);
    s.gate.layer_correlation = gate->number_or("layer_correlation", 0.0, 0.0, 1.0);
    s.gate.drift_per_step = gate->number_or("drift_per_step", 0.0, 0.0, 1.0);
    s.gate.drift_interval_steps = static_cast<int>(gate->integer_or("drift_interval_steps", 1, 1, kMaxSteps));
    s.gate.rank_locality = gate->number_or("rank_locality", 0.0, 0.0, 1.0);
    gate->finish();
  }
  if (s.model.top_k > s.model.routed_experts)
    model.fail_here(fmt::format("top_k {} exceeds routed_experts {}", s.model.top_k, s.model.routed_experts));

  if (auto pl = r.table_opt("placement")) {
    std::vector<std::string> kinds = placement_strategy_kinds();
    kinds.push_back("from_file");
    s.placement = pl->choice_or("kind", "contiguous", kinds);
    if (s.placement == "from_file") s.placement_file = resolve(base_dir, pl->string("file"));
    else if (pl->has("file")) pl->fail("file", "only meaningful with kind = \"from_file\"");
    s.placement_window_steps = static_cast<int>(pl->integer_or("window_steps", 8, 1, kMaxSteps));
    s.redundant_slots = static_cast<int>(pl->integer_or("redundant_slots", 0, 0, 1 << 20));
    s.rebalance_every_steps = static_cast<int>(pl->integer_or("rebalance_every_steps", 0, 0, kMaxSteps));
    if (s.rebalance_every_steps > 0 && (s.placement == "contiguous" || s.placement == "round_robin" ||
                                        s.placement == "from_file"))
      pl->fail("rebalance_every_steps", "needs a load-aware placement (greedy, redundant or topology_aware)");
    pl->finish();
  }
  if (auto net = r.table_opt("network")) {
    s.network_model = net->choice_or("model", "flow", {"flow", "analytic"});
    s.dedup = net->boolean_or("dedup", true);
    s.resolve_tolerance = net->number_or("resolve_tolerance", s.resolve_tolerance, 0, 0.5);
    s.layer_barrier = net->boolean_or("layer_barrier", false);
    net->finish();
  }
  if (auto ov = r.table_opt("overlap")) {
    s.overlap = ov->choice_or("mode", "none", {"none", "two_microbatch"});
    ov->finish();
  }
  if (auto out = r.table_opt("output")) {
    s.output_dir = out->string_or("dir", "");
    s.timeline_steps = static_cast<int>(out->integer_or("timeline_steps", 1, 0, 1000));
    out->finish();
  }
  for (TableReader& f : r.tables("faults")) {
    FaultSpec fault;
    fault.where = where(f.file(), &f.raw());
    fault.kind = f.choice("kind", {"link_down", "link_degraded", "slow_gpu", "gpu_down"});
    if (fault.kind == "gpu_down") {
      fault.gpu = static_cast<int>(f.integer("gpu", 0, 1 << 16));
    } else if (fault.kind == "slow_gpu") {
      fault.gpu = static_cast<int>(f.integer("gpu", 0, 1 << 16));
      fault.compute_factor = f.number("compute_factor", 1.0, 1000.0);
    } else {
      fault.a = f.string("a");
      fault.b = f.string("b");
      fault.duplex = f.boolean_or("duplex", true);
      if (fault.kind == "link_degraded") fault.bandwidth_factor = f.number("bandwidth_factor", 1e-6, 1.0);
    }
    f.finish();
    s.faults.push_back(fault);
  }
  r.finish();
  return s;
}
}  // namespace

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
toml::table placement_table(const Scenario& s) {
  toml::table t{{"kind", s.placement}, {"window_steps", s.placement_window_steps},
                {"redundant_slots", s.redundant_slots}, {"rebalance_every_steps", s.rebalance_every_steps}};
  if (!s.placement_file.empty()) t.insert("file", s.placement_file);
  return t;
}
}  // namespace

std::string scenario_to_toml(const Scenario& s) {
  const ModelSpec& m = s.model;
  toml::table model{{"name", m.name},
                    {"hidden", m.hidden},
                    {"layers", m.layers},
                    {"dense_layers", m.dense_layers},
                    {"routed_experts", m.routed_experts},
                    {"shared_experts", m.shared_experts},
                    {"top_k", m.top_k},
                    {"expert_ffn", m.expert_ffn},
                    {"shared_ffn", m.shared_ffn},
                    {"dense_ffn", m.dense_ffn},
                    {"attn_params", m.attn_params},
                    {"kv_bytes_per_token", m.kv_bytes_per_token},
                    {"attn_weight_bytes", m.attn_weight_bytes},
                    {"attn_flops_per_ctx", m.attn_flops_per_ctx},
                    {"attn_prefill_flops_per_ctx", m.attn_prefill_flops_per_ctx},
                    {"weight_bytes", m.weight_bytes},
                    {"dispatch_bytes", m.dispatch_bytes},
                    {"combine_bytes", m.combine_bytes}};
  toml::table gate{{"kind", s.gate.kind}};
  if (s.gate.kind != "uniform") {  // the uniform gate ignores every other field
    if (s.gate.kind == "zipf") gate.insert("zipf_exponent", s.gate.zipf_exponent);
    if (s.gate.kind == "lognormal") gate.insert("lognormal_sigma", s.gate.lognormal_sigma);
    gate.insert("layer_variation", s.gate.layer_variation);
    gate.insert("layer_correlation", s.gate.layer_correlation);
    gate.insert("drift_per_step", s.gate.drift_per_step);
    gate.insert("drift_interval_steps", s.gate.drift_interval_steps);
    gate.insert("rank_locality", s.gate.rank_locality);
  }
  if (!s.trace_path.empty()) gate = toml::table{{"kind", "trace"}, {"trace", s.trace_path}};
  toml::table root{
      {"name", s.name},
      {"seed", static_cast<std::int64_t>(s.seed)},
      {"model", model},
      {"hardware", toml::table{{"topology", s.topology_path}, {"profile", s.profile_path}}},
      {"parallelism", toml::table{{"ep", s.ep_size}}},
      {"workload", toml::table{{"phase", s.workload.phase},
                               {"tokens_per_gpu", s.workload.tokens_per_gpu},
                               {"kv_len", s.workload.kv_len},
                               {"steps", s.workload.steps}}},
      {"gate", gate},
      {"placement", placement_table(s)},
      {"network", toml::table{{"model", s.network_model}, {"dedup", s.dedup}, {"resolve_tolerance", s.resolve_tolerance},
                             {"layer_barrier", s.layer_barrier}}},
      {"overlap", toml::table{{"mode", s.overlap}}},
      {"output", toml::table{{"dir", s.output_dir}, {"timeline_steps", s.timeline_steps}}},
  };
  toml::array faults;
  for (const FaultSpec& f : s.faults) {
    toml::table t{{"kind", f.kind}};
    if (f.kind == "gpu_down") {
      t.insert("gpu", f.gpu);
    } else if (f.kind == "slow_gpu") {
      t.insert("gpu", f.gpu);
      t.insert("compute_factor", f.compute_factor);
    } else {
      t.insert("a", f.a);
      t.insert("b", f.b);
      t.insert("duplex", f.duplex);
      if (f.kind == "link_degraded") t.insert("bandwidth_factor", f.bandwidth_factor);
    }
    faults.push_back(std::move(t));
  }
  if (!faults.empty()) root.insert("faults", std::move(faults));
  std::ostringstream os;
  os << "# Resolved scenario written by moesim: every value explicit" << (s.model_preset.empty() ? "" : ", model preset \"" + s.model_preset + "\" expanded") << ".\n";
  os << root << "\n";
  return os.str();
}

}  // namespace moesim::io
