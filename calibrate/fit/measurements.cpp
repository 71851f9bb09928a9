// Measurement files (calibrate/MEASUREMENTS.md) read strictly: every key known, every number in
// range, errors naming the file and the JSON pointer; assumes one file is one calibrator run.
#include "fit/measurements.hpp"

#include <fmt/format.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/limits.hpp"

namespace moesim::fit {

namespace {

using nlohmann::json;

constexpr const char* kFormat = "moesim-measurements";
constexpr int kVersion = 1;
constexpr double kMaxUs = 1e12;  // ~11.6 days: anything longer is a unit mistake
constexpr double kMaxBytes = 1e18;
constexpr double kMaxRate = 1e9;  // GB/s: an all-to-all's algbw/busbw (small messages go far below 1 MB/s)
constexpr std::int64_t kMaxTokens = 1'000'000'000'000'000;

// RFC 6901 escaping of one reference token.
std::string pointer_token(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// One JSON object read strictly: typed, range-checked access by key; finish() rejects the rest.
class ObjectReader {
 public:
  ObjectReader(const json& j, std::string pointer, const std::string& where)
      : j_(j), pointer_(std::move(pointer)), where_(where) {
    if (!j_.is_object())
      throw InputError(fmt::format("{}: {}: expected an object, got {}", where_, at(), j_.type_name()));
  }

  bool has(const char* key) const { return j_.contains(key); }

  const json& get(const char* key) {
    if (!j_.contains(key)) throw InputError(fmt::format("{}: {}: missing field \"{}\"", where_, at(), key));
    used_.insert(key);
    return j_.at(key);
  }

  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw InputError(fmt::format("{}: {}/{}: {}", where_, pointer_, pointer_token(key), message));
  }

  std::string string(const char* key, bool non_empty) {
    const json& v = get(key);
    if (!v.is_string()) fail(key, fmt::format("expected a string, got {}", v.dump()));
    std::string s = v.get<std::string>();
    if (non_empty && s.empty()) fail(key, "must not be empty");
    return s;
  }

  std::string choice(const char* key, std::initializer_list<const char*> choices) {
    const std::string s = string(key, false);
    std::string list;
    for (const char* c : choices) {
      if (s == c) return s;
      list += fmt::format("{}\"{}\"", list.empty() ? "" : ", ", c);
    }
    fail(key, fmt::format("unknown value \"{}\" (expected one of: {})", s, list));
  }

  // A number in [min, max]; with `open_min` the minimum itself is excluded.
  double number(const char* key, double min, double max, bool open_min = false) {
    const json& v = get(key);
    if (!v.is_number()) fail(key, fmt::format("expected a number, got {}", v.dump()));
    const double x = v.get<double>();
    if (!std::isfinite(x) || x < min || x > max || (open_min && x == min))
      fail(key, fmt::format("{} is out of range {}{:g}, {:g}]", v.dump(), open_min ? "(" : "[", min, max));
    return x;
  }

  std::int64_t integer(const char* key, std::int64_t min, std::int64_t max) {
    const json& v = get(key);
    if (!v.is_number_integer()) fail(key, fmt::format("expected an integer, got {}", v.dump()));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(max))
      fail(key, fmt::format("{} is out of range [{}, {}]", v.dump(), min, max));
    const auto x = v.get<std::int64_t>();
    if (x < min || x > max) fail(key, fmt::format("{} is out of range [{}, {}]", x, min, max));
    return x;
  }

  int integer32(const char* key, int min, int max) { return static_cast<int>(integer(key, min, max)); }

  // An array (required), each element checked by the caller through its pointer.
  const json& array(const char* key) {
    const json& v = get(key);
    if (!v.is_array()) fail(key, fmt::format("expected an array, got {}", v.type_name()));
    return v;
  }

  // Fails at element `i` of the array under `key`.
  [[noreturn]] void fail_element(const std::string& key, std::size_t i, const std::string& message) const {
    throw InputError(fmt::format("{}: {}/{}/{}: {}", where_, pointer_, pointer_token(key), i, message));
  }

  void finish(std::initializer_list<const char*> known) const {
    for (const auto& [key, v] : j_.items()) {
      (void)v;
      if (used_.count(key)) continue;
      std::string list;
      for (const char* k : known) list += fmt::format("{}{}", list.empty() ? "" : ", ", k);
      fail(key, fmt::format("unknown key \"{}\" (expected: {})", key, list));
    }
  }

 private:
  std::string at() const { return pointer_.empty() ? "(top level)" : pointer_; }
  const json& j_;
  std::string pointer_;
  const std::string& where_;
  std::set<std::string, std::less<>> used_;
};

MeasurementMeta read_meta(ObjectReader r) {
  MeasurementMeta m;
  m.device = r.string("device", true);
  m.driver = r.string("driver", false);
  m.cuda = r.string("cuda", false);
  m.nccl = r.string("nccl", false);
  m.date = r.string("date", false);
  m.command = r.string("command", false);
  m.gpus = r.integer32("gpus", 1, 1 << 16);
  m.memory_GB = r.number("memory_GB", 0, 1e6);
  m.sm_count = r.integer32("sm_count", 0, 1 << 20);
  if (r.has("notes")) m.notes = r.string("notes", false);
  r.finish({"device", "driver", "cuda", "nccl", "date", "command", "gpus", "memory_GB", "sm_count", "notes"});
  return m;
}

DeviceMeasurement read_device(ObjectReader r) {
  DeviceMeasurement d;
  // Device rates: what the simulator accepts for a profile (core/limits.hpp), or the fit would
  // write a profile that cannot be simulated.
  if (r.has("copy_GBps")) d.copy_GBps = r.number("copy_GBps", kMinRate_GBps, kMaxRate_GBps);
  if (r.has("matrix_bf16_TFLOPs"))
    d.matrix_bf16_TFLOPs = r.number("matrix_bf16_TFLOPs", kMinRate_TFLOPs, kMaxRate_TFLOPs);
  if (r.has("matrix_fp8_TFLOPs")) d.matrix_fp8_TFLOPs = r.number("matrix_fp8_TFLOPs", kMinRate_TFLOPs, kMaxRate_TFLOPs);
  if (r.has("launch_ns")) d.launch_ns = r.number("launch_ns", 0, kMaxUs * 1e3);
  r.finish({"copy_GBps", "matrix_bf16_TFLOPs", "matrix_fp8_TFLOPs", "launch_ns"});
  return d;
}

KernelMeasurement read_kernel(ObjectReader r) {
  KernelMeasurement k;
  k.kernel = r.choice("kernel", {"gate", "permute", "expert", "combine"});
  k.model = r.string("model", true);
  k.skew = r.number("skew", 0, 100);
  k.tokens = r.integer("tokens", 1, kMaxTokens);
  k.median_us = r.number("median_us", 0, kMaxUs, true);
  k.p10_us = r.number("p10_us", 0, kMaxUs, true);
  k.p90_us = r.number("p90_us", 0, kMaxUs, true);
  if (k.p10_us > k.median_us) r.fail("p10_us", fmt::format("{} exceeds median_us {}", k.p10_us, k.median_us));
  if (k.p90_us < k.median_us) r.fail("p90_us", fmt::format("{} is below median_us {}", k.p90_us, k.median_us));
  k.bytes = r.number("bytes", 0, kMaxBytes);
  k.repeats = r.integer32("repeats", 1, 1'000'000'000);
  if (k.kernel == "gate") {
    k.gate_kind = r.choice("gate_kind", {"softmax_topk", "sigmoid_group_topk"});
    r.finish({"kernel", "model", "gate_kind", "skew", "tokens", "median_us", "p10_us", "p90_us", "bytes", "repeats"});
  } else if (k.kernel == "expert") {
    k.experts = r.integer32("experts", 1, 1 << 20);
    k.tokens_per_expert = r.number("tokens_per_expert", 0, static_cast<double>(kMaxTokens), true);
    const double mean = static_cast<double>(k.tokens) / k.experts;
    if (std::abs(k.tokens_per_expert - mean) > 0.01 * mean)
      r.fail("tokens_per_expert",
             fmt::format("{} is not tokens / experts = {} / {} = {}", k.tokens_per_expert, k.tokens, k.experts, mean));
    k.weight_bytes = r.number("weight_bytes", 0, 8, true);
    r.finish({"kernel", "model", "skew", "tokens", "experts", "tokens_per_expert", "weight_bytes", "median_us",
              "p10_us", "p90_us", "bytes", "repeats"});
  } else {
    r.finish({"kernel", "model", "skew", "tokens", "median_us", "p10_us", "p90_us", "bytes", "repeats"});
  }
  return k;
}

AttentionMeasurement read_attention(ObjectReader r) {
  AttentionMeasurement a;
  a.model = r.string("model", true);
  a.phase = r.choice("phase", {"decode", "prefill"});
  a.form = r.choice("form", {"gqa", "mla"});
  a.batch = r.integer32("batch", 1, 1 << 20);
  a.queries = r.integer32("queries", 1, 1 << 20);
  a.context = r.integer32("context", 0, 1 << 24);
  if (a.phase == "decode" && a.queries > 16)
    r.fail("queries", fmt::format("{} new tokens per decode sequence (at most 16: speculative drafts)", a.queries));
  a.median_us = r.number("median_us", 0, kMaxUs, true);
  a.p10_us = r.number("p10_us", 0, kMaxUs, true);
  a.p90_us = r.number("p90_us", 0, kMaxUs, true);
  if (a.p10_us > a.median_us) r.fail("p10_us", fmt::format("{} exceeds median_us {}", a.p10_us, a.median_us));
  if (a.p90_us < a.median_us) r.fail("p90_us", fmt::format("{} is below median_us {}", a.p90_us, a.median_us));
  a.bytes = r.number("bytes", 0, kMaxBytes);
  a.flops = r.number("flops", 0, 1e30);
  a.repeats = r.integer32("repeats", 1, 1'000'000'000);
  r.finish({"model", "phase", "form", "batch", "queries", "context", "median_us", "p10_us", "p90_us", "bytes", "flops",
            "repeats"});
  return a;
}

AlltoallMeasurement read_alltoall(ObjectReader r) {
  AlltoallMeasurement a;
  a.gpus = r.integer32("gpus", 1, 1 << 16);
  a.bytes = r.number("bytes", 0, kMaxBytes, true);
  a.median_us = r.number("median_us", 0, kMaxUs, true);
  a.algbw_GBps = r.number("algbw_GBps", 0, kMaxRate);
  a.busbw_GBps = r.number("busbw_GBps", 0, kMaxRate);
  const double expect = a.algbw_GBps * (a.gpus - 1) / a.gpus;
  if (std::abs(a.busbw_GBps - expect) > 0.01 * expect + 1e-9)
    r.fail("busbw_GBps",
           fmt::format("{} is not algbw_GBps * (gpus - 1) / gpus = {} (nccl-tests convention)", a.busbw_GBps, expect));
  r.finish({"gpus", "bytes", "median_us", "algbw_GBps", "busbw_GBps"});
  return a;
}

LayerMeasurement read_layer(ObjectReader r) {
  LayerMeasurement l;
  l.model = r.string("model", true);
  l.gate = r.string("gate", true);
  l.tokens = r.integer("tokens", 1, kMaxTokens);
  l.skew = r.number("skew", 0, 100);
  l.weight_bytes = r.number("weight_bytes", 0, 8, true);
  const json& load = r.array("tokens_per_expert");
  if (load.empty()) r.fail("tokens_per_expert", "must list one count per expert");
  for (std::size_t i = 0; i < load.size(); ++i) {
    const json& v = load[i];
    constexpr std::int64_t kMax = std::numeric_limits<int>::max();
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > kMax) ||
        v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > kMax)
      r.fail_element("tokens_per_expert", i, fmt::format("expected a token count in [0, {}], got {}", kMax, v.dump()));
    l.tokens_per_expert.push_back(static_cast<int>(v.get<std::int64_t>()));
  }
  l.gate_us = r.number("gate_us", 0, kMaxUs);
  l.permute_us = r.number("permute_us", 0, kMaxUs);
  l.experts_us = r.number("experts_us", 0, kMaxUs);
  l.combine_us = r.number("combine_us", 0, kMaxUs);
  l.total_us = r.number("total_us", 0, kMaxUs, true);
  r.finish({"model", "gate", "tokens", "skew", "weight_bytes", "tokens_per_expert", "gate_us", "permute_us",
            "experts_us", "combine_us", "total_us"});
  return l;
}

template <typename Row, typename Read>
std::vector<Row> read_rows(ObjectReader& root, const char* key, const std::string& where, Read read) {
  std::vector<Row> rows;
  if (!root.has(key)) return rows;
  const json& a = root.array(key);
  for (std::size_t i = 0; i < a.size(); ++i)
    rows.push_back(read(ObjectReader(a[i], fmt::format("/{}/{}", key, i), where)));
  return rows;
}

// Parses JSON text, rejecting a key repeated in one object (nlohmann would keep the last).
json parse_strict(const std::string& text, const std::string& where) {
  std::vector<std::set<std::string>> keys;
  const json::parser_callback_t callback = [&](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
      throw InputError(fmt::format("{}: key \"{}\" appears twice in one object", where, parsed.get<std::string>()));
    return true;
  };
  try {
    return json::parse(text, callback);
  } catch (const json::exception& e) {  // syntax errors and out-of-range numbers alike
    throw InputError(fmt::format("{}: invalid JSON: {}", where, e.what()));
  }
}

json kernel_to_json(const KernelMeasurement& k) {
  json j = {{"kernel", k.kernel}, {"model", k.model},         {"skew", k.skew},
            {"tokens", k.tokens}, {"median_us", k.median_us}, {"p10_us", k.p10_us},
            {"p90_us", k.p90_us}, {"bytes", k.bytes},         {"repeats", k.repeats}};
  if (k.kernel == "gate") j["gate_kind"] = k.gate_kind;
  if (k.kernel == "expert") {
    j["experts"] = k.experts;
    j["tokens_per_expert"] = k.tokens_per_expert;
    j["weight_bytes"] = k.weight_bytes;
  }
  return j;
}

}  // namespace

double AttentionMeasurement::visible_pairs() const {
  const double n = queries, ctx = context;
  return batch * (n * ctx + (phase == "prefill" ? n * (n + 1) / 2 : n * (n - 1) / 2));
}

Measurements measurements_from_json(const json& j, const std::string& where) {
  ObjectReader root(j, "", where);
  if (root.string("format", false) != kFormat)
    root.fail("format", fmt::format("expected \"{}\" (is this a measurement file?)", kFormat));
  const std::int64_t version = root.integer("version", 0, std::numeric_limits<std::int64_t>::max());
  if (version != kVersion)
    root.fail("version", fmt::format("version {} is not supported (this build reads version {})", version, kVersion));
  Measurements m;
  m.meta = read_meta(ObjectReader(root.get("meta"), "/meta", where));
  if (root.has("device")) m.device = read_device(ObjectReader(root.get("device"), "/device", where));
  m.kernels = read_rows<KernelMeasurement>(root, "kernels", where, read_kernel);
  m.attention = read_rows<AttentionMeasurement>(root, "attention", where, read_attention);
  m.alltoall = read_rows<AlltoallMeasurement>(root, "alltoall", where, read_alltoall);
  m.layers = read_rows<LayerMeasurement>(root, "layers", where, read_layer);
  root.finish({"format", "version", "meta", "device", "kernels", "attention", "alltoall", "layers"});
  return m;
}

json measurements_to_json(const Measurements& m) {
  json j;
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["meta"] = {{"device", m.meta.device}, {"driver", m.meta.driver},       {"cuda", m.meta.cuda},
               {"nccl", m.meta.nccl},     {"date", m.meta.date},           {"command", m.meta.command},
               {"gpus", m.meta.gpus},     {"memory_GB", m.meta.memory_GB}, {"sm_count", m.meta.sm_count}};
  if (!m.meta.notes.empty()) j["meta"]["notes"] = m.meta.notes;
  if (m.device) {
    json d = json::object();
    const DeviceMeasurement& dev = *m.device;
    if (dev.copy_GBps >= 0) d["copy_GBps"] = dev.copy_GBps;
    if (dev.matrix_bf16_TFLOPs >= 0) d["matrix_bf16_TFLOPs"] = dev.matrix_bf16_TFLOPs;
    if (dev.matrix_fp8_TFLOPs >= 0) d["matrix_fp8_TFLOPs"] = dev.matrix_fp8_TFLOPs;
    if (dev.launch_ns >= 0) d["launch_ns"] = dev.launch_ns;
    j["device"] = d;
  }
  j["kernels"] = json::array();
  for (const auto& k : m.kernels) j["kernels"].push_back(kernel_to_json(k));
  // Older readers know no "attention" key: it is written only when there are rows.
  for (const auto& a : m.attention)
    j["attention"].push_back({{"model", a.model},
                              {"phase", a.phase},
                              {"form", a.form},
                              {"batch", a.batch},
                              {"queries", a.queries},
                              {"context", a.context},
                              {"median_us", a.median_us},
                              {"p10_us", a.p10_us},
                              {"p90_us", a.p90_us},
                              {"bytes", a.bytes},
                              {"flops", a.flops},
                              {"repeats", a.repeats}});
  j["alltoall"] = json::array();
  for (const auto& a : m.alltoall)
    j["alltoall"].push_back({{"gpus", a.gpus},
                             {"bytes", a.bytes},
                             {"median_us", a.median_us},
                             {"algbw_GBps", a.algbw_GBps},
                             {"busbw_GBps", a.busbw_GBps}});
  j["layers"] = json::array();
  for (const auto& l : m.layers)
    j["layers"].push_back({{"model", l.model},
                           {"gate", l.gate},
                           {"tokens", l.tokens},
                           {"skew", l.skew},
                           {"weight_bytes", l.weight_bytes},
                           {"tokens_per_expert", l.tokens_per_expert},
                           {"gate_us", l.gate_us},
                           {"permute_us", l.permute_us},
                           {"experts_us", l.experts_us},
                           {"combine_us", l.combine_us},
                           {"total_us", l.total_us}});
  return j;
}

Measurements load_measurements(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open measurement file", path));
  std::ostringstream text;
  text << in.rdbuf();
  return measurements_from_json(parse_strict(text.str(), path), path);
}

void save_measurements(const Measurements& m, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  out << measurements_to_json(m).dump(2) << "\n";
  if (!out) throw Error(fmt::format("cannot write {}", path));
}

void merge_measurements(Measurements& a, const Measurements& b) {
  if (b.device) {
    if (!a.device) {
      a.device = b.device;
    } else {
      DeviceMeasurement& d = *a.device;
      for (auto field : {&DeviceMeasurement::copy_GBps, &DeviceMeasurement::matrix_bf16_TFLOPs,
                         &DeviceMeasurement::matrix_fp8_TFLOPs, &DeviceMeasurement::launch_ns})
        if (d.*field < 0) d.*field = (*b.device).*field;
    }
  }
  a.kernels.insert(a.kernels.end(), b.kernels.begin(), b.kernels.end());
  a.attention.insert(a.attention.end(), b.attention.begin(), b.attention.end());
  a.alltoall.insert(a.alltoall.end(), b.alltoall.begin(), b.alltoall.end());
  a.layers.insert(a.layers.end(), b.layers.begin(), b.layers.end());
  // Provenance of every run merged: each command line once, in order ("; " between them), and
  // the NCCL version of the first run that used NCCL.
  if (!b.meta.command.empty() && a.meta.command.find(b.meta.command) == std::string::npos)
    a.meta.command += (a.meta.command.empty() ? "" : "; ") + b.meta.command;
  if (a.meta.nccl.empty()) a.meta.nccl = b.meta.nccl;
}

}  // namespace moesim::fit
