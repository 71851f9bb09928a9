// Profile TOML reader and writer. The reader checks every value where it stands in the file so a
// bad figure is reported with its line; Profile::validate then re-checks the assembled whole.
#include "io/profile_io.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <sstream>

#include "core/limits.hpp"
#include "io/toml_reader.hpp"

namespace moesim::io {

namespace {

constexpr double kHuge = std::numeric_limits<double>::max();

// A number in (0, max]: TableReader ranges are inclusive, so zero is rejected here.
double positive(TableReader& r, std::string_view key, double max = kHuge) {
  const double v = r.number(key, 0, max);
  if (v <= 0) r.fail(key, fmt::format("value {} must be > 0", v));
  return v;
}

// 0 (absent, off) or a value in [min, max] (core/limits.hpp: what can be simulated).
double zero_or(TableReader& r, std::string_view key, double min, double max) {
  const double v = r.number_or(key, 0, 0, max);
  if (v != 0 && v < min) r.fail(key, fmt::format("value {} is out of range: 0 (none) or [{}, {}]", v, min, max));
  return v;
}

LogTable read_table(TableReader& r, const std::string& x_key, const std::string& y_key, double y_min, double y_max) {
  if (!r.has(x_key)) r.fail(y_key, fmt::format("needs a matching \"{}\" array", r.full_key(x_key)));
  if (!r.has(y_key)) r.fail(x_key, fmt::format("needs a matching \"{}\" array", r.full_key(y_key)));
  LogTable t;
  t.x = r.numbers(x_key, 0, kHuge);
  t.y = r.numbers(y_key, y_min, y_max);
  if (t.x.size() != t.y.size())
    r.fail(y_key,
           fmt::format("has {} values but {} has {} (lengths must match)", t.y.size(), r.full_key(x_key), t.x.size()));
  const std::string bad = t.check(y_min, y_max);
  if (!bad.empty()) r.fail(x_key, "table " + bad);
  return t;
}

// Optional `source` / `citation` of a section.
Provenance read_provenance(TableReader& r) {
  Provenance p;
  p.source = r.choice_or("source", "", {"measured", "published", "derived"});
  p.citation = r.string_or("citation", "");
  return p;
}

CommParams read_comm(TableReader& r) {
  CommParams c;
  c.provenance = read_provenance(r);
  c.latency_ns = r.number("latency_ns", 0, 1e12);
  c.efficiency = read_table(r, "efficiency_bytes", "efficiency", kMinMessageEfficiency, 1);
  r.finish();
  return c;
}

// [ep_kernel.<name>]: one expert-parallel kernel; see EpKernelParams.
EpKernelParams read_ep_kernel(TableReader& r) {
  EpKernelParams k;
  k.provenance = read_provenance(r);
  k.mode = *parse_setting<EpMode>(r.choice("mode", setting_names<EpMode>()));
  constexpr double kMaxUs = 1e9;
  k.dispatch_fixed_us = r.number_or("dispatch_fixed_us", 0, 0, kMaxUs);
  k.combine_fixed_us = r.number_or("combine_fixed_us", 0, 0, kMaxUs);
  k.dispatch_fixed_scaleout_us = r.number_or("dispatch_fixed_scaleout_us", k.dispatch_fixed_us, 0, kMaxUs);
  k.combine_fixed_scaleout_us = r.number_or("combine_fixed_scaleout_us", k.combine_fixed_us, 0, kMaxUs);
  k.per_peer_ns = r.number_or("per_peer_ns", 0, 0, kMaxUs);
  k.message_nvlink_ns = r.number_or("message_nvlink_ns", 0, 0, kMaxUs);
  k.message_scaleout_ns = r.number_or("message_scaleout_ns", 0, 0, kMaxUs);
  for (auto [key, field] : {std::pair{"efficiency_nvlink", &k.efficiency_nvlink},
                            std::pair{"efficiency_scaleout", &k.efficiency_scaleout}}) {
    if (!r.has(key)) continue;
    if (k.mode == EpMode::nccl)
      r.fail(key, "an nccl kernel takes its efficiency by message size from [comm.nvlink] / [comm.scaleout]");
    *field = r.number(key, kMinEfficiency, 1);
  }
  if (r.has("pxn")) {
    k.pxn = r.boolean("pxn");
    if (k.pxn && k.mode != EpMode::nccl)
      r.fail("pxn", "PXN (relaying over NVLink to the destination's rail) is an nccl option");
  }
  k.sms = static_cast<int>(r.integer_or("sms", 0, 0, 1024));
  k.sm_GBps = zero_or(r, "sm_GBps", kMinRate_GBps, kMaxRate_GBps);
  if (k.sm_GBps > 0 && k.sms == 0) r.fail("sm_GBps", "a copy rate per SM needs the kernel's SM count (sms)");
  r.finish();
  return k;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// [kernels]: model, weight_bytes, provenance, then columnar pairs `<name>_tokens = [...]`,
// `<name>_us = [...]`.
void read_kernels(TableReader& r, Profile& p) {
  const auto known = known_kernel_tables();
  p.kernels_provenance = read_provenance(r);
  const bool has_model = r.has("model");
  if (has_model) {
    p.kernels_model = r.string("model");
    if (p.kernels_model.empty()) r.fail("model", "must name the model the kernel tables were measured for");
  }
  if (r.has("weight_bytes")) p.kernels_weight_bytes = positive(r, "weight_bytes", 8);
  if (r.has("expert_fixed_us")) p.kernels_expert_fixed_us = r.number("expert_fixed_us", 0, 1e6);
  if (r.has("expert_fp8_fixed_us")) p.kernels_expert_fp8_fixed_us = r.number("expert_fp8_fixed_us", 0, 1e6);
  std::vector<std::string> keys;
  for (const auto& [k, v] : r.raw()) {
    const std::string key(k.str());
    if (key == "model" || key == "weight_bytes" || key == "expert_fixed_us" || key == "expert_fp8_fixed_us" ||
        key == "source" || key == "citation")
      continue;
    if (key == "fit_skews") {
      p.kernels_fit_skews = r.numbers(key, 0, 1e3);
      continue;
    }
    if (ends_with(key, "_cv")) {  // a kernel's measured spread
      const std::string stem = key.substr(0, key.size() - 3);
      const auto spreads = known_kernel_spreads();
      if (std::find(spreads.begin(), spreads.end(), stem) == spreads.end()) {
        std::string list;
        for (const auto& s : spreads) list += (list.empty() ? "" : ", ") + s;
        r.fail(key, fmt::format("unknown kernel \"{}\" (spreads are known for: {})", stem, list));
      }
      p.kernels_cv[stem] = r.number(key, 0, 1);
      continue;
    }
    keys.push_back(key);
  }
  for (const std::string& key : keys) {
    // A table is `<stem>_us` with its x axis `<stem>_<axis>` (tokens, or context / pairs for attention).
    std::string stem;
    if (ends_with(key, "_us")) {
      stem = key.substr(0, key.size() - 3);
    } else {
      for (const char* axis : {"_tokens", "_context", "_pairs"})
        if (ends_with(key, axis)) stem = key.substr(0, key.size() - std::string_view(axis).size());
      if (stem.empty()) r.fail(key, "kernel table keys are <name>_us with <name>_tokens (_context, _pairs)");
    }
    const std::string name = stem + "_us";
    if (!is_kernel_table(name)) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k.substr(0, k.size() - 3);
      r.fail(key, fmt::format("unknown kernel \"{}\" (known: {}, expert_e<N> / expert_fp8_e<N> for N experts per "
                              "call, attn_decode_b<B> for B sequences)",
                              stem, list));
    }
    if (key != name && key != stem + "_" + kernel_table_axis(name))
      r.fail(key, fmt::format("the x axis of {} is {}_{}", name, stem, kernel_table_axis(name)));
    if (p.kernels_us.count(name)) continue;  // already read through its partner key
    if (!has_model)
      r.fail(key, fmt::format("kernel tables need {} = \"<model name>\" (the model they were "
                              "measured for)",
                              r.full_key("model")));
    if ((name == "expert_us" || expert_calls_of(name) > 0) && p.kernels_weight_bytes == 0)
      r.fail(key, fmt::format("the expert table needs {} (the weight precision it was measured at)",
                              r.full_key("weight_bytes")));
    p.kernels_us[name] = read_table(r, stem + "_" + kernel_table_axis(name), name, 0, 1e12);
  }
  if (p.kernels_expert_fixed_us > 0 && !p.kernels_us.count("expert_us"))
    r.fail("expert_fixed_us", "belongs to the expert table: give expert_tokens and expert_us too");
  if (p.kernels_expert_fp8_fixed_us > 0 && !p.kernels_us.count("expert_fp8_us"))
    r.fail("expert_fp8_fixed_us", "belongs to the fp8 expert table: give expert_fp8_tokens and expert_fp8_us too");
  for (const auto& [name, table] : p.kernels_us) {
    if (expert_calls_of(name) > 0 && !p.kernels_us.count("expert_us"))
      r.fail(name, "a per-call expert curve needs expert_tokens and expert_us (all the model's experts) too");
    if (expert_fp8_calls_of(name) > 0 && !p.kernels_us.count("expert_fp8_us"))
      r.fail(name, "a per-call fp8 expert curve needs expert_fp8_tokens and expert_fp8_us (all the model's experts) too");
  }
  r.finish();
}

// Shortest round-trip text for a double, always a TOML float ("3350.0", not "3350").
std::string number_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

std::string array_text(const std::vector<double>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + number_text(v[i]);
  return s + "]";
}

// TOML basic string with the escapes the spec requires.
std::string string_text(const std::string& v) {
  std::string s = "\"";
  for (unsigned char c : v) {
    switch (c) {
      case '"':
        s += "\\\"";
        break;
      case '\\':
        s += "\\\\";
        break;
      case '\n':
        s += "\\n";
        break;
      case '\t':
        s += "\\t";
        break;
      case '\r':
        s += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          s += fmt::format("\\u{:04X}", static_cast<unsigned>(c));
        } else {
          s += static_cast<char>(c);
        }
    }
  }
  return s + "\"";
}

void write_provenance(const Provenance& p, std::ostream& out) {
  if (!p.source.empty()) out << "source = " << string_text(p.source) << "\n";
  if (!p.citation.empty()) out << "citation = " << string_text(p.citation) << "\n";
}

}  // namespace

Profile load_profile_table(const toml::table& table, const std::string& file) {
  TableReader root(table, file);
  Profile p;

  TableReader meta = root.table("meta");
  p.meta.device = meta.string("device");
  if (p.meta.device.empty()) meta.fail("device", "must name the device");
  p.meta.source = meta.choice("source", {"measured", "published", "derived"});
  p.meta.driver = meta.string_or("driver", "");
  p.meta.cuda = meta.string_or("cuda", "");
  p.meta.nccl = meta.string_or("nccl", "");
  p.meta.date = meta.string_or("date", "");
  p.meta.command = meta.string_or("command", "");
  p.meta.notes = meta.string_or("notes", "");
  meta.finish();

  TableReader dev = root.table("device");
  p.hbm_bandwidth = Bandwidth::from_GBps(dev.number("hbm_GBps", kMinRate_GBps, kMaxRate_GBps));
  p.hbm_efficiency = dev.number("hbm_efficiency", kMinEfficiency, 1);
  p.matrix_bf16_TFLOPs = dev.number("matrix_bf16_TFLOPs", kMinRate_TFLOPs, kMaxRate_TFLOPs);
  p.matrix_fp8_TFLOPs = zero_or(dev, "matrix_fp8_TFLOPs", kMinRate_TFLOPs, kMaxRate_TFLOPs);  // absent = no fp8
  p.matrix_fp4_TFLOPs = zero_or(dev, "matrix_fp4_TFLOPs", kMinRate_TFLOPs, kMaxRate_TFLOPs);  // absent = no fp4
  p.matrix_efficiency = dev.number("matrix_efficiency", kMinEfficiency, 1);
  p.matrix_fp8_efficiency = zero_or(dev, "matrix_fp8_efficiency", kMinEfficiency, 1);
  p.grouped_fp8_efficiency = zero_or(dev, "grouped_fp8_efficiency", kMinEfficiency, 1);
  p.launch_ns = dev.number("launch_ns", 0, 1e12);
  p.gemm_tile_m = static_cast<int>(dev.integer("gemm_tile_m", 1, 1 << 16));
  p.memory_GB = positive(dev, "memory_GB", 1e6);
  p.sms = static_cast<int>(dev.integer_or("sms", 0, 0, 1024));
  p.device_provenance = read_provenance(dev);
  dev.finish();

  TableReader comm = root.table("comm");
  for (const char* cls : {"nvlink", "scaleout"}) {
    TableReader c = comm.table(cls);
    p.comm[cls] = read_comm(c);
  }
  comm.finish();

  if (auto k = root.table_opt("kernels")) read_kernels(*k, p);
  if (auto eps = root.table_opt("ep_kernel")) {
    std::vector<std::string> names;
    for (const auto& [name, v] : eps->raw()) names.emplace_back(name.str());
    for (const std::string& name : names) {
      const bool plain = std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
      });
      if (!plain) eps->fail(name, "kernel names are letters, digits, _ and -");
      TableReader k = eps->table(name);
      p.ep_kernels[name] = read_ep_kernel(k);
    }
    eps->finish();
  }
  root.finish();

  p.validate(file);
  return p;
}

Profile load_profile(const std::string& path) { return load_profile_table(parse_toml_file(path), path); }

void write_profile(const Profile& p, std::ostream& out) {
  out << "# moesim device profile (schema: calibrate/profiles/README.md)\n\n[meta]\n";
  const std::pair<const char*, const std::string*> meta[] = {
      {"device", &p.meta.device}, {"source", &p.meta.source}, {"driver", &p.meta.driver},   {"cuda", &p.meta.cuda},
      {"nccl", &p.meta.nccl},     {"date", &p.meta.date},     {"command", &p.meta.command}, {"notes", &p.meta.notes}};
  for (const auto& [key, value] : meta)
    if (!value->empty() || std::string_view(key) == "device" || std::string_view(key) == "source")
      out << key << " = " << string_text(*value) << "\n";

  out << "\n[device]\n";
  write_provenance(p.device_provenance, out);
  out << "hbm_GBps = " << number_text(p.hbm_bandwidth.GBps()) << "\n";
  out << "hbm_efficiency = " << number_text(p.hbm_efficiency) << "\n";
  out << "matrix_bf16_TFLOPs = " << number_text(p.matrix_bf16_TFLOPs) << "\n";
  out << "matrix_fp8_TFLOPs = " << number_text(p.matrix_fp8_TFLOPs) << "\n";
  if (p.matrix_fp4_TFLOPs > 0) out << "matrix_fp4_TFLOPs = " << number_text(p.matrix_fp4_TFLOPs) << "\n";
  out << "matrix_efficiency = " << number_text(p.matrix_efficiency) << "\n";
  if (p.matrix_fp8_efficiency > 0) out << "matrix_fp8_efficiency = " << number_text(p.matrix_fp8_efficiency) << "\n";
  if (p.grouped_fp8_efficiency > 0)
    out << "grouped_fp8_efficiency = " << number_text(p.grouped_fp8_efficiency) << "\n";
  out << "launch_ns = " << number_text(p.launch_ns) << "\n";
  out << "gemm_tile_m = " << p.gemm_tile_m << "\n";
  out << "memory_GB = " << number_text(p.memory_GB) << "\n";
  if (p.sms > 0) out << "sms = " << p.sms << "\n";

  for (const auto& [cls, c] : p.comm) {
    out << "\n[comm." << cls << "]\n";
    write_provenance(c.provenance, out);
    out << "latency_ns = " << number_text(c.latency_ns) << "\n";
    out << "efficiency_bytes = " << array_text(c.efficiency.x) << "\n";
    out << "efficiency = " << array_text(c.efficiency.y) << "\n";
  }

  const bool kernels = !p.kernels_us.empty() || !p.kernels_cv.empty() || !p.kernels_fit_skews.empty() ||
                       !p.kernels_model.empty() || p.kernels_weight_bytes != 0 ||
                       p.kernels_provenance != Provenance{};
  if (kernels) {
    out << "\n[kernels]\n";
    write_provenance(p.kernels_provenance, out);
    if (!p.kernels_model.empty()) out << "model = " << string_text(p.kernels_model) << "\n";
    if (p.kernels_weight_bytes != 0) out << "weight_bytes = " << number_text(p.kernels_weight_bytes) << "\n";
    if (p.kernels_expert_fixed_us != 0) out << "expert_fixed_us = " << number_text(p.kernels_expert_fixed_us) << "\n";
    if (p.kernels_expert_fp8_fixed_us != 0)
      out << "expert_fp8_fixed_us = " << number_text(p.kernels_expert_fp8_fixed_us) << "\n";
    for (const auto& [name, cv] : p.kernels_cv) out << name << "_cv = " << number_text(cv) << "\n";
    if (!p.kernels_fit_skews.empty()) out << "fit_skews = " << array_text(p.kernels_fit_skews) << "\n";
    for (const auto& [name, t] : p.kernels_us) {
      const std::string stem = ends_with(name, "_us") ? name.substr(0, name.size() - 3) : name;
      out << stem << "_" << kernel_table_axis(name) << " = " << array_text(t.x) << "\n";
      out << stem << "_us = " << array_text(t.y) << "\n";
    }
  }

  for (const auto& [name, k] : p.ep_kernels) {
    out << "\n[ep_kernel." << name << "]\n";
    write_provenance(k.provenance, out);
    out << "mode = " << string_text(setting_string(k.mode)) << "\n";
    const std::pair<const char*, double> numbers[] = {{"dispatch_fixed_us", k.dispatch_fixed_us},
                                                      {"combine_fixed_us", k.combine_fixed_us},
                                                      {"dispatch_fixed_scaleout_us", k.dispatch_fixed_scaleout_us},
                                                      {"combine_fixed_scaleout_us", k.combine_fixed_scaleout_us},
                                                      {"per_peer_ns", k.per_peer_ns},
                                                      {"message_nvlink_ns", k.message_nvlink_ns},
                                                      {"message_scaleout_ns", k.message_scaleout_ns}};
    for (const auto& [key, v] : numbers) out << key << " = " << number_text(v) << "\n";
    if (k.mode != EpMode::nccl) {
      out << "efficiency_nvlink = " << number_text(k.efficiency_nvlink) << "\n";
      out << "efficiency_scaleout = " << number_text(k.efficiency_scaleout) << "\n";
    }
    if (k.pxn) out << "pxn = true\n";
    out << "sms = " << k.sms << "\n";
    out << "sm_GBps = " << number_text(k.sm_GBps) << "\n";
  }
}

std::string profile_to_toml(const Profile& p) {
  std::ostringstream s;
  write_profile(p, s);
  return s.str();
}

}  // namespace moesim::io
