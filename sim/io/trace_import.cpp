// Routing-trace importers (see trace_import.hpp and scenarios/traces/README.md). Each importer makes
// a validating first pass (so bad input never leaves a half-written trace and inferred sizes are
// known before the header is written), then a second pass that buffers one step at a time.
#include "io/trace_import.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/csv_text.hpp"
#include "io/npy_reader.hpp"

namespace moesim::io {

namespace {

constexpr std::int64_t kMaxDim = 1 << 20;  // layers, ranks: far beyond any real model, catches garbage

[[noreturn]] void fail_line(const std::string& file, std::uint64_t line, const std::string& what) {
  throw InputError(fmt::format("{}:{}: {}", file, line, what));
}
[[noreturn]] void fail_byte(const std::string& file, std::uint64_t at, const std::string& what) {
  throw InputError(fmt::format("{}: byte {}: {}", file, at, what));
}

std::string lower_ext(const std::string& path) {
  std::string e = std::filesystem::path(path).extension().string();
  for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return e;
}

void check_option(const char* name, int v) {
  if (v < 0 || v > kMaxDim) throw InputError(fmt::format("import option {} = {} is out of range", name, v));
}

  return v;
}

// Throws unless ids[0..k) are pairwise distinct; `where` names the place.
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
    if (jsonl_) parse_json(r, ids, weights); else parse_csv(r, ids, weights);
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
      if (w == 0 && cols[i] == fmt::format("e{}", e)) { ++e; continue; }
      if (cols[i] == fmt::format("w{}", w)) { ++w; continue; }
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
      j = nlohmann::json::parse(line_);
    } catch (const nlohmann::json::parse_error& e) {
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

  TextLines lines_;
  bool jsonl_;
  const ImportOptions& opt_;
  std::string line_;
  int top_k_ = 0;
  int weights_ = -1;  // -1 unknown (JSONL before the first row), 0 no, 1 yes
  std::size_t columns_ = 0;
};

bool rows_are_jsonl(const std::string& in, const ImportOptions& opt) {
  if (opt.format == "jsonl") return true;
  if (opt.format == "csv") return false;
  if (!opt.format.empty()) throw InputError(fmt::format("rows import: unknown format \"{}\" (csv or jsonl)", opt.format));
  const auto e = lower_ext(in);
  return e == ".jsonl" || e == ".ndjson" || e == ".json";
}

// Sorts one step's rows into blocks and writes it.
void flush_rows_step(const std::string& in, std::vector<Row>& rows, const std::vector<std::int32_t>& ids,
                     const std::vector<float>& weights, const TraceHeader& h, TraceStep& st, TraceWriter& w) {
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.layer, a.rank, a.token) < std::tie(b.layer, b.rank, b.token);
  });
  st.step = static_cast<std::uint32_t>(rows.front().step);
  st.tokens.assign(static_cast<std::size_t>(h.layers) * h.ranks, 0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    if (i > 0 && r.layer == rows[i - 1].layer && r.rank == rows[i - 1].rank && r.token == rows[i - 1].token)
      fail_line(in, std::max(r.line, rows[i - 1].line),
                fmt::format("duplicate row for step {} layer {} rank {} token {} (also on line {})", r.step, r.layer,
                            r.rank, r.token, std::min(r.line, rows[i - 1].line)));
    ++st.tokens[static_cast<std::size_t>(r.layer) * h.ranks + r.rank];
  }
  st.index(h.top_k);
  const std::size_t k = static_cast<std::size_t>(h.top_k);
  st.experts.resize(rows.size() * k);
  st.weights.resize(h.has_weights() ? rows.size() * k : 0);
  st.counts.clear();
  for (std::size_t i = 0; i < rows.size(); ++i) {  // sorted rows are exactly the block-major order
    std::copy_n(ids.begin() + rows[i].at, k, st.experts.begin() + i * k);
    if (h.has_weights()) std::copy_n(weights.begin() + rows[i].at, k, st.weights.begin() + i * k);
  }
  w.write(st);
}

}  // namespace

ImportResult import_rows(const std::string& in, const std::string& out, const ImportOptions& opt) {
  for (auto [n, v] : {std::pair{"layers", opt.layers}, {"ranks", opt.ranks}, {"experts", opt.experts}, {"top_k", opt.top_k}})
    check_option(n, v);
  const bool jsonl = rows_are_jsonl(in, opt);
  ImportResult res;

  // Pass 1: validate every row, check step order, find the sizes.
  std::int64_t max_layer = -1, max_rank = -1, max_id = -1;
  std::uint64_t rows = 0, steps = 0, prev_step = 0;
  bool gaps = false;
  {
    RowSource src(in, jsonl, opt);
    Row r;
    std::vector<std::int32_t> ids;
    std::vector<float> weights;
    while (src.next(r, ids, weights)) {
      if (rows > 0 && r.step < prev_step)
        fail_line(in, r.line, fmt::format("step {} after step {}: steps must be non-decreasing", r.step, prev_step));
      if (rows == 0 || r.step != prev_step) {
        gaps = gaps || (rows == 0 ? r.step != 0 : r.step != prev_step + 1);
        ++steps;
      }
      prev_step = r.step;
      ++rows;
      max_layer = std::max<std::int64_t>(max_layer, r.layer);
      max_rank = std::max<std::int64_t>(max_rank, r.rank);
      for (auto id : ids) max_id = std::max<std::int64_t>(max_id, id);
      ids.clear();
      weights.clear();
    }
    if (rows == 0) throw InputError(fmt::format("{}: empty input (no data rows)", in));
    TraceHeader& h = res.header;
    h.top_k = src.top_k();
    h.flags = src.weights() ? TraceHeader::kFlagWeights : 0;
  }
  TraceHeader& h = res.header;
  h.layers = opt.layers > 0 ? opt.layers : static_cast<int>(max_layer + 1);
  h.ranks = opt.ranks > 0 ? opt.ranks : static_cast<int>(max_rank + 1);
  h.experts = opt.experts > 0 ? opt.experts : static_cast<int>(max_id + 1);
  if (h.experts > 65535) h.flags |= TraceHeader::kFlagWideIds;
  if (opt.layers == 0) res.notes.push_back(fmt::format("layers = {} inferred (max layer + 1)", h.layers));
  if (opt.ranks == 0) res.notes.push_back(fmt::format("ranks = {} inferred (max rank + 1)", h.ranks));
  if (opt.experts == 0)
    res.notes.push_back(fmt::format("experts = {} inferred as max expert id + 1; give the model's expert count "
                                    "if some experts were never selected", h.experts));
  if (gaps) res.notes.push_back("input step numbers are not 0, 1, 2, ...; they are kept as they are");

  // Pass 2: one step at a time.
  RowSource src(in, jsonl, opt);
  TraceWriter writer(out, h);
  std::vector<Row> step_rows;
  std::vector<std::int32_t> ids;
  std::vector<float> weights;
  TraceStep st;
  Row r;
  for (;;) {
    r.at = ids.size();
    const bool more = src.next(r, ids, weights);
    if (!step_rows.empty() && (!more || r.step != step_rows.front().step)) {
      // The row just read (if any) belongs to the next step: move its ids out of the way.
      std::vector<std::int32_t> keep_ids(ids.begin() + static_cast<std::ptrdiff_t>(r.at), ids.end());
      std::vector<float> keep_w;
      if (h.has_weights()) keep_w.assign(weights.begin() + static_cast<std::ptrdiff_t>(r.at), weights.end());
      ids.resize(r.at);
      weights.resize(h.has_weights() ? r.at : 0);
      flush_rows_step(in, step_rows, ids, weights, h, st, writer);
      res.tokens += step_rows.size();
      ++res.steps;
      step_rows.clear();
      ids = std::move(keep_ids);
      weights = std::move(keep_w);
      r.at = 0;
    }
    if (!more) break;
    step_rows.push_back(r);
  }
  writer.close();
  res.header.steps = res.steps;
  return res;
}

namespace {

// ---------------------------------------------------------------------------------------------
// .npy arrays: header dict parsed here, data streamed in chunks; errors name byte offsets.


int dim(const NpyReader& a, std::size_t i, const char* name, int option) {
  const std::uint64_t d = a.shape()[i];
  if (d == 0) a.fail(a.header_at(), fmt::format("empty input: shape {} has no {}", a.shape_text(), name));
  if (d > static_cast<std::uint64_t>(kMaxDim)) a.fail(a.header_at(), fmt::format("shape {}: {} {} is out of range", a.shape_text(), d, name));
  if (option > 0 && static_cast<std::uint64_t>(option) != d)
    a.fail(a.header_at(), fmt::format("shape {} has {} {} but the option says {}", a.shape_text(), d, name, option));
  return static_cast<int>(d);
}

}  // namespace

ImportResult import_npy_ids(const std::string& in, const std::string& out, const ImportOptions& opt) {
  for (auto [n, v] : {std::pair{"layers", opt.layers}, {"ranks", opt.ranks}, {"experts", opt.experts},
                      {"top_k", opt.top_k}, {"tokens_per_rank", opt.tokens_per_rank}})
    check_option(n, v);
  NpyReader a(in, {"<i2", "<i4"});
  if (a.shape().size() != 3) a.fail(a.header_at(), fmt::format("shape {}: expected [tokens, layers, top_k]", a.shape_text()));
  const std::uint64_t tokens = a.shape()[0];
  if (tokens == 0) a.fail(a.header_at(), "empty input: the array has no tokens");
  ImportResult res;
  TraceHeader& h = res.header;
  h.layers = dim(a, 1, "layers", opt.layers);
  h.top_k = dim(a, 2, "top_k", opt.top_k);
  h.ranks = opt.ranks > 0 ? opt.ranks : 1;
  const std::uint64_t tpr = opt.tokens_per_rank > 0 ? static_cast<std::uint64_t>(opt.tokens_per_rank) : tokens / h.ranks;
  const std::uint64_t per_step = tpr * h.ranks;
  if (tpr == 0 || tokens < per_step)
    a.fail(a.header_at(), fmt::format("{} tokens are fewer than one step ({} ranks x {} tokens per rank)", tokens,
                                      h.ranks, std::max<std::uint64_t>(tpr, 1)));
  if (tpr > std::numeric_limits<std::uint32_t>::max()) a.fail(a.header_at(), "too many tokens per rank for one step");
  const std::uint64_t steps = tokens / per_step, kept = steps * per_step;
  if (kept < tokens)
    res.notes.push_back(fmt::format("dropped the last {} tokens: a partial step (a step is {} ranks x {} tokens)",
                                    tokens - kept, h.ranks, tpr));
  if (opt.ranks == 0) res.notes.push_back("ranks = 1 (default)");
  if (opt.tokens_per_rank == 0) res.notes.push_back(fmt::format("tokens_per_rank = {}: all tokens in one step", tpr));

  // Pass 1: ids in range, distinct per token and layer; the largest id.
  const std::size_t L = static_cast<std::size_t>(h.layers), K = static_cast<std::size_t>(h.top_k);
  const std::uint64_t chunk = std::max<std::uint64_t>(1, (std::uint64_t{1} << 20) / (L * K));
  std::vector<std::int64_t> v;
  std::vector<std::int32_t> ids(K);
  std::int64_t max_id = -1;
  for (std::uint64_t t0 = 0; t0 < kept; t0 += chunk) {
    const std::uint64_t first = a.pos();
    a.read(static_cast<std::size_t>(std::min(chunk, kept - t0) * L * K), v);
    for (std::size_t g = 0; g < v.size(); g += K) {
      for (std::size_t k = 0; k < K; ++k) {
        const std::int64_t id = v[g + k];
        if (id < 0 || (opt.experts > 0 && id >= opt.experts))
          a.fail(a.offset_of(first + g + k), fmt::format("expert id {} is out of range [0, {})", id,
                                                          opt.experts > 0 ? std::to_string(opt.experts) : "inf"));
        ids[k] = static_cast<std::int32_t>(id);
        max_id = std::max(max_id, id);
      }
      check_distinct(ids.data(), h.top_k, [&](const std::string& m) {
        a.fail(a.offset_of(first + g), fmt::format("token {} layer {}: {}", (first + g) / (L * K), (g / K) % L, m));
      });
    }
  }
  h.experts = opt.experts > 0 ? opt.experts : static_cast<int>(max_id + 1);
  if (h.experts > 65535) h.flags |= TraceHeader::kFlagWideIds;
  if (opt.experts == 0)
    res.notes.push_back(fmt::format("experts = {} inferred as max expert id + 1; give the model's expert count "
                                    "if some experts were never selected", h.experts));

  // Pass 2: token j of a step is rank j / tpr, position j % tpr; scatter its layers into blocks.
  a.rewind();
  TraceWriter writer(out, h);
  TraceStep st;
  for (std::uint64_t s = 0; s < steps; ++s) {
    st.step = static_cast<std::uint32_t>(s);
    st.tokens.assign(L * h.ranks, static_cast<std::uint32_t>(tpr));
    st.index(h.top_k);
    st.experts.resize(per_step * L * K);
    st.weights.clear();
    st.counts.clear();
    for (std::uint64_t j0 = 0; j0 < per_step; j0 += chunk) {
      const std::uint64_t n = std::min(chunk, per_step - j0);
      a.read(static_cast<std::size_t>(n * L * K), v);
      for (std::uint64_t j = j0; j < j0 + n; ++j)
        for (std::size_t l = 0; l < L; ++l) {
          const std::size_t b = l * h.ranks + j / tpr;
          const auto src = v.begin() + static_cast<std::ptrdiff_t>(((j - j0) * L + l) * K);
          std::copy_n(src, K, st.experts.begin() + static_cast<std::ptrdiff_t>(st.offsets[b] + (j % tpr) * K));
        }
    }
    writer.write(st);
  }
  writer.close();
  res.steps = h.steps = steps;
  res.tokens = kept * L;
  return res;
}
