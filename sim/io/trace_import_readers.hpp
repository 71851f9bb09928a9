#pragma once
// Streaming, validating readers of the text import formats (row CSV/JSONL, count-matrix CSV);
// internal to io/trace_import.cpp. Errors are InputErrors "FILE:LINE: what".
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "io/csv_text.hpp"
#include "io/trace_import.hpp"

namespace moesim::io::detail {

constexpr std::int64_t kMaxDim = 1 << 20;            // layers, ranks: far beyond any real model, catches garbage
constexpr std::uint32_t kMaxBlockTokens = 1u << 24;  // FORMAT.md: tokens per block and count per cell

[[noreturn]] inline void fail_line(const std::string& file, std::uint64_t line, const std::string& what) {
  throw InputError(fmt::format("{}:{}: {}", file, line, what));
}

inline std::string lower_ext(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

inline void check_option(const char* name, int v) {
  if (v < 0 || v > kMaxDim)
    throw InputError(fmt::format("import option {} = {} is out of range [0, {}] (0 = infer)", name, v, kMaxDim));
}

// Throws (through `fail`) unless ids[0..k) are pairwise distinct.
template <class Fail>
void check_distinct(const std::int32_t* ids, int k, Fail&& fail) {
  for (int i = 1; i < k; ++i)
    for (int j = 0; j < i; ++j)
      if (ids[i] == ids[j]) fail(fmt::format("expert {} appears twice in one token", ids[i]));
}

// ---------------------------------------------------------------------------------------------
// Rows (CSV / JSONL)

struct Row {
  std::uint64_t step = 0;
  std::int32_t layer = 0, rank = 0;
  std::int64_t token = 0;
  std::uint64_t line = 0;
  std::size_t at = 0;  // index of the row's first id in the step's id buffer
};

class RowSource {
 public:
  RowSource(const std::string& path, bool jsonl, const ImportOptions& opt) : lines_(path), jsonl_(jsonl), opt_(opt) {
    top_k_ = opt.top_k;
    if (!jsonl_) read_csv_header();
  }
  // Reads the next row, appending its ids (and weights) to the buffers; false at the end.
  bool next(Row& r, std::vector<std::int32_t>& ids, std::vector<float>& weights) {
    if (!lines_.next(line_)) return false;
    r.line = lines_.no();
    if (jsonl_)
      parse_json(r, ids, weights);
    else
      parse_csv(r, ids, weights);
    check_distinct(ids.data() + (ids.size() - top_k_), top_k_, [&](const std::string& m) { fail(m); });
    return true;
  }
  int top_k() const { return top_k_; }
  bool weights() const { return weights_ == 1; }

 private:
  [[noreturn]] void fail(const std::string& what) const { fail_line(lines_.path(), lines_.no(), what); }

  void read_csv_header() {
    if (!lines_.next(line_)) throw InputError(fmt::format("{}: empty input (no header, no rows)", lines_.path()));
    const auto cols = split_csv(line_);
    static const char* kFixed[] = {"step", "layer", "rank", "token"};
    for (int i = 0; i < 4; ++i)
      if (cols.size() <= static_cast<std::size_t>(i) || cols[i] != kFixed[i])
        fail(fmt::format("expected the header \"step,layer,rank,token,e0,e1,...[,w0,w1,...]\", got \"{}\"", line_));
    int e = 0, w = 0;
    for (std::size_t i = 4; i < cols.size(); ++i) {
      if (w == 0 && cols[i] == fmt::format("e{}", e)) {
        ++e;
        continue;
      }
      if (cols[i] == fmt::format("w{}", w)) {
        ++w;
        continue;
      }
      fail(fmt::format("header column {} is \"{}\"; expected e{} or w{}", i + 1, cols[i], e, w));
    }
    if (e == 0) fail("header has no expert columns e0, e1, ...");
    if (w != 0 && w != e) fail(fmt::format("header has {} expert columns but {} weight columns", e, w));
    if (top_k_ != 0 && top_k_ != e) fail(fmt::format("header has {} expert columns but top_k = {}", e, top_k_));
    top_k_ = e;
    weights_ = w > 0 ? 1 : 0;
    columns_ = cols.size();
  }

  std::int64_t field_int(std::string_view text, std::string_view name, std::int64_t lo, std::int64_t hi) const {
    const auto v = parse_int(text);
    if (!v) fail(fmt::format("{}: expected an integer, got \"{}\"", name, text));
    if (*v < lo || *v > hi) fail(fmt::format("{} = {} is out of range [{}, {}]", name, *v, lo, hi));
    return *v;
  }

  void set_keys(Row& r, std::int64_t step, std::int64_t layer, std::int64_t rank, std::int64_t token) const {
    r.step = static_cast<std::uint64_t>(step);
    r.layer = static_cast<std::int32_t>(layer);
    r.rank = static_cast<std::int32_t>(rank);
    r.token = token;
  }
  std::int64_t id_max() const { return opt_.experts > 0 ? opt_.experts - 1 : std::numeric_limits<std::int32_t>::max(); }
  std::int64_t layer_max() const { return opt_.layers > 0 ? opt_.layers - 1 : kMaxDim - 1; }
  std::int64_t rank_max() const { return opt_.ranks > 0 ? opt_.ranks - 1 : kMaxDim - 1; }
  float weight(double w) const {
    if (!std::isfinite(w) || w < 0) fail(fmt::format("gate weight {} is not a finite non-negative number", w));
    return static_cast<float>(w);
  }

  void parse_csv(Row& r, std::vector<std::int32_t>& ids, std::vector<float>& weights) const {
    const auto f = split_csv(line_);
    if (f.size() != columns_) fail(fmt::format("{} columns, the header has {}", f.size(), columns_));
    set_keys(r, field_int(f[0], "step", 0, std::numeric_limits<std::uint32_t>::max()),
             field_int(f[1], "layer", 0, layer_max()), field_int(f[2], "rank", 0, rank_max()),
             field_int(f[3], "token", 0, std::numeric_limits<std::int64_t>::max()));
    for (int i = 0; i < top_k_; ++i)
      ids.push_back(static_cast<std::int32_t>(field_int(f[4 + i], fmt::format("e{}", i), 0, id_max())));
    for (int i = 0; i < top_k_ && weights_ == 1; ++i) {
      const auto w = parse_double(f[4 + top_k_ + i]);
      if (!w) fail(fmt::format("w{}: expected a number, got \"{}\"", i, f[4 + top_k_ + i]));
      weights.push_back(weight(*w));
    }
  }

  std::int64_t json_int(const nlohmann::json& v, std::string_view name, std::int64_t lo, std::int64_t hi) const {
    if (!v.is_number_integer()) fail(fmt::format("\"{}\": expected an integer, got {}", name, v.dump()));
    if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(hi))
      fail(fmt::format("\"{}\" = {} is out of range [{}, {}]", name, v.dump(), lo, hi));
    const auto x = v.get<std::int64_t>();
    if (x < lo || x > hi) fail(fmt::format("\"{}\" = {} is out of range [{}, {}]", name, x, lo, hi));
    return x;
  }

  void parse_json(Row& r, std::vector<std::int32_t>& ids, std::vector<float>& weights) {
    nlohmann::json j;
    try {
      keys_.clear();
      object_at_.clear();
      j = nlohmann::json::parse(line_, [this](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
        return check_key(event, parsed);
      });
    } catch (const nlohmann::json::exception& e) {  // syntax errors and out-of-range numbers alike
      fail(fmt::format("invalid JSON: {}", e.what()));
    }
    if (!j.is_object()) fail("expected a JSON object per line");
    for (const auto& [key, v] : j.items()) {
      (void)v;
      if (key != "step" && key != "layer" && key != "rank" && key != "token" && key != "experts" && key != "weights")
        fail(fmt::format("unknown key \"{}\" (expected step, layer, rank, token, experts, weights)", key));
    }
    for (const char* key : {"step", "layer", "rank", "token", "experts"})
      if (!j.contains(key)) fail(fmt::format("missing key \"{}\"", key));
    set_keys(r, json_int(j["step"], "step", 0, std::numeric_limits<std::uint32_t>::max()),
             json_int(j["layer"], "layer", 0, layer_max()), json_int(j["rank"], "rank", 0, rank_max()),
             json_int(j["token"], "token", 0, std::numeric_limits<std::int64_t>::max()));
    const auto& e = j["experts"];
    if (!e.is_array() || e.empty()) fail("\"experts\" must be a non-empty array of expert ids");
    if (top_k_ == 0) top_k_ = static_cast<int>(e.size());
    if (e.size() != static_cast<std::size_t>(top_k_))
      fail(fmt::format("\"experts\" has {} ids; expected top_k = {}", e.size(), top_k_));
    for (const auto& id : e) ids.push_back(static_cast<std::int32_t>(json_int(id, "experts", 0, id_max())));
    const bool has_w = j.contains("weights");
    if (weights_ < 0) weights_ = has_w ? 1 : 0;
    if (has_w != (weights_ == 1))
      fail(has_w ? "\"weights\" given here but not on the first row" : "\"weights\" missing (the first row has them)");
    if (!has_w) return;
    const auto& w = j["weights"];
    if (!w.is_array() || w.size() != e.size()) fail("\"weights\" must be an array as long as \"experts\"");
    for (const auto& x : w) {
      if (!x.is_number()) fail(fmt::format("\"weights\": expected a number, got {}", x.dump()));
      weights.push_back(weight(x.get<double>()));
    }
  }

  // nlohmann keeps the last of repeated keys silently; a row must say each thing once.
  bool check_key(nlohmann::json::parse_event_t event, const nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      object_at_.push_back(keys_.size());
    } else if (event == Event::object_end) {
      keys_.resize(object_at_.back());
      object_at_.pop_back();
    } else if (event == Event::key) {
      const auto& key = parsed.get_ref<const std::string&>();
      if (std::find(keys_.begin() + static_cast<std::ptrdiff_t>(object_at_.back()), keys_.end(), key) != keys_.end())
        fail(fmt::format("duplicate key \"{}\"", key));
      keys_.push_back(key);
    }
    return true;
  }

  TextLines lines_;
  bool jsonl_;
  const ImportOptions& opt_;
  std::string line_;
  int top_k_ = 0;
  int weights_ = -1;  // -1 unknown (JSONL before the first row), 0 no, 1 yes
  std::size_t columns_ = 0;
  std::vector<std::string> keys_;       // keys of the objects open in the row being parsed
  std::vector<std::size_t> object_at_;  // where each open object's keys start in keys_
};

// ---------------------------------------------------------------------------------------------
// Count matrices. A CSV yields one step (a [layers][experts] matrix) at a time; see the README for
// the header / no-header and `step` / `layer` column rules.

class CountsCsv {
 public:
  CountsCsv(const std::string& path, const ImportOptions& opt) : lines_(path), opt_(opt) {
    if (!lines_.next(line_)) throw InputError(fmt::format("{}: empty input (no rows)", path));
    auto cols = split_csv(line_);
    header_ = !parse_double(cols[0]);  // a header starts with a name, data with a number
    if (header_) {
      has_step_ = cols[0] == "step";
      has_layer_ = cols.size() > fixed() && cols[fixed()] == "layer";
      if (!has_step_ && cols[0] != "layer")
        fail(fmt::format("header column 1 is \"{}\"; expected step, layer or numeric counts", cols[0]));
    }
    experts_ = static_cast<int>(cols.size() - fixed());
    if (experts_ == 0) fail("no expert columns");
    if (opt.experts > 0 && opt.experts != experts_)
      fail(fmt::format("{} expert columns but experts = {}", experts_, opt.experts));
    have_row_ = header_ ? read_row() : (parse_row(), true);
    if (!have_row_) throw InputError(fmt::format("{}: empty input (a header but no rows)", path));
  }
  int experts() const { return experts_; }
  int layers() const { return layers_; }

  // The next step's matrix (row-major [layers][experts]) and its step number; false at the end.
  bool next(std::uint32_t& step, std::vector<std::uint64_t>& m) {
    if (!have_row_) return false;
    step = has_step_ ? cur_step_ : static_cast<std::uint32_t>(groups_);
    const std::uint64_t start = lines_.no();
    rows_.clear();
    m.clear();
    do {
      if ((has_step_ && cur_step_ != step) ||
          (!has_step_ && opt_.layers > 0 && rows_.size() == std::size_t(opt_.layers)))
        break;
      rows_.push_back({cur_layer_ >= 0 ? cur_layer_ : static_cast<std::int64_t>(rows_.size()), lines_.no()});
      m.insert(m.end(), cur_.begin(), cur_.end());
    } while ((have_row_ = read_row()));
    const int n = static_cast<int>(rows_.size());
    if (layers_ == 0) layers_ = opt_.layers > 0 ? opt_.layers : n;
    if (n != layers_)
      fail_line(lines_.path(), start,
                fmt::format("the step starting here has {} rows; expected {} (one per layer{})", n, layers_,
                            opt_.layers > 0 ? "" : ", as in the first step"));
    if (has_layer_) {  // put rows in layer order; each layer exactly once
      std::vector<std::uint64_t> sorted(m.size()), seen(n, 0);
      for (std::size_t i = 0; i < rows_.size(); ++i) {
        const auto [layer, line] = rows_[i];
        if (layer >= n) fail_line(lines_.path(), line, fmt::format("layer {} is out of range [0, {})", layer, n));
        if (seen[layer])
          fail_line(lines_.path(), line, fmt::format("layer {} again (also on line {})", layer, seen[layer]));
        seen[layer] = line;
        std::copy_n(m.begin() + i * experts_, experts_, sorted.begin() + layer * experts_);
      }
      m.swap(sorted);
    }
    ++groups_;
    return true;
  }

 private:
  std::size_t fixed() const { return (has_step_ ? 1 : 0) + (has_layer_ ? 1 : 0); }
  [[noreturn]] void fail(const std::string& what) const { fail_line(lines_.path(), lines_.no(), what); }

  bool read_row() {
    if (!lines_.next(line_)) return false;
    parse_row();
    return true;
  }
  void parse_row() {
    const auto f = split_csv(line_);
    if (f.size() != fixed() + experts_) fail(fmt::format("{} columns; expected {}", f.size(), fixed() + experts_));
    std::size_t c = 0;
    if (has_step_) {
      const auto s = parse_int(f[c]);
      if (!s || *s < 0 || *s > std::numeric_limits<std::uint32_t>::max())
        fail(fmt::format("step: expected a non-negative integer, got \"{}\"", f[c]));
      if (lines_seen_ > 0 && *s < cur_step_)
        fail(fmt::format("step {} after step {}: steps must be non-decreasing", *s, cur_step_));
      cur_step_ = static_cast<std::uint32_t>(*s);
      ++c;
    }
    cur_layer_ = -1;
    if (has_layer_) {
      const auto l = parse_int(f[c]);
      const std::int64_t hi = opt_.layers > 0 ? opt_.layers : kMaxDim;
      if (!l || *l < 0 || *l >= hi) fail(fmt::format("layer: expected an integer in [0, {}), got \"{}\"", hi, f[c]));
      cur_layer_ = *l;
      ++c;
    }
    cur_.resize(experts_);
    for (int e = 0; e < experts_; ++e, ++c) {
      const auto v = parse_double(f[c]);
      if (!v || !std::isfinite(*v) || *v != std::floor(*v))
        fail(fmt::format("expert {}: expected a count (an integer), got \"{}\"", e, f[c]));
      if (*v < 0) fail(fmt::format("expert {}: negative count {}", e, f[c]));
      if (*v > 9.0e15) fail(fmt::format("expert {}: count {} is too large", e, f[c]));
      cur_[e] = static_cast<std::uint64_t>(*v);
    }
    ++lines_seen_;
  }

  TextLines lines_;
  const ImportOptions& opt_;
  std::string line_;
  bool header_ = false, has_step_ = false, has_layer_ = false, have_row_ = false;
  int experts_ = 0, layers_ = 0;
  std::uint64_t groups_ = 0, lines_seen_ = 0;
  std::uint32_t cur_step_ = 0;
  std::int64_t cur_layer_ = -1;
  std::vector<std::uint64_t> cur_;
  std::vector<std::pair<std::int64_t, std::uint64_t>> rows_;  // (layer, line) of the step's rows
};

}  // namespace moesim::io::detail
