// Routing-trace importers (see trace_import.hpp and scenarios/traces/README.md). Each importer makes
// a validating first pass (so bad input never leaves a half-written trace and inferred sizes are
// known before the header is written), then a second pass that buffers one step at a time.
#include "io/trace_import.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "io/npy_reader.hpp"
#include "io/trace_import_readers.hpp"

namespace moesim::io {

using namespace detail;  // the readers and checks of trace_import_readers.hpp

namespace {

bool rows_are_jsonl(const std::string& in, const ImportOptions& opt) {
  if (opt.format == "jsonl") return true;
  if (opt.format == "csv") return false;
  if (!opt.format.empty())
    throw InputError(fmt::format("rows import: unknown format \"{}\" (csv or jsonl)", opt.format));
  const auto e = lower_ext(in);
  return e == ".jsonl" || e == ".ndjson" || e == ".json";
}

// Sorts one step's rows into block order (layer, rank, token) and checks that no (layer, rank,
// token) repeats and no block exceeds the format's token limit.
void sort_step_rows(const std::string& in, std::vector<Row>& rows) {
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
    return std::tie(a.layer, a.rank, a.token) < std::tie(b.layer, b.rank, b.token);
  });
  std::uint64_t run = 0;  // tokens so far in the current block
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const bool same_block = i > 0 && r.layer == rows[i - 1].layer && r.rank == rows[i - 1].rank;
    if (same_block && r.token == rows[i - 1].token)
      fail_line(in, std::max(r.line, rows[i - 1].line),
                fmt::format("duplicate row for step {} layer {} rank {} token {} (also on line {})", r.step, r.layer,
                            r.rank, r.token, std::min(r.line, rows[i - 1].line)));
    run = same_block ? run + 1 : 1;
    if (run > kMaxBlockTokens)
      fail_line(
          in, r.line,
          fmt::format("more than {} tokens for step {} layer {} rank {}", kMaxBlockTokens, r.step, r.layer, r.rank));
  }
}

// Writes one step's rows (already sorted by sort_step_rows).
void write_rows_step(const std::vector<Row>& rows, const std::vector<std::int32_t>& ids,
                     const std::vector<float>& weights, const TraceHeader& h, TraceStep& st, TraceWriter& w) {
  st.step = static_cast<std::uint32_t>(rows.front().step);
  st.tokens.assign(static_cast<std::size_t>(h.layers) * h.ranks, 0);
  for (const Row& r : rows) ++st.tokens[static_cast<std::size_t>(r.layer) * h.ranks + r.rank];
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
  for (auto [n, v] :
       {std::pair{"layers", opt.layers}, {"ranks", opt.ranks}, {"experts", opt.experts}, {"top_k", opt.top_k}})
    check_option(n, v);
  const bool jsonl = rows_are_jsonl(in, opt);
  ImportResult res;

  // Pass 1: validate every row, check step order, find the sizes.
  std::int64_t max_layer = -1, max_rank = -1, max_id = -1;
  std::uint64_t rows = 0, prev_step = 0;
  {
    RowSource src(in, jsonl, opt);
    Row r;
    std::vector<std::int32_t> ids;
    std::vector<float> weights;
    std::vector<Row> step_rows;  // keys only, to check one step at a time
    for (;;) {
      const bool more = src.next(r, ids, weights);
      if (!step_rows.empty() && (!more || r.step != prev_step)) {
        sort_step_rows(in, step_rows);
        step_rows.clear();
      }
      if (!more) break;
      if (rows > 0 && r.step < prev_step)
        fail_line(in, r.line, fmt::format("step {} after step {}: steps must be non-decreasing", r.step, prev_step));
      prev_step = r.step;
      step_rows.push_back(r);
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
    res.notes.push_back(
        fmt::format("experts = {} inferred as max expert id + 1; give the model's expert count "
                    "if some experts were never selected",
                    h.experts));

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
      sort_step_rows(in, step_rows);
      write_rows_step(step_rows, ids, weights, h, st, writer);
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

// Dimension i of the array, checked against the option (0 = take it from the shape).
int dim(const NpyReader& a, std::size_t i, const char* name, int option) {
  const std::uint64_t d = a.shape()[i];
  if (d == 0) a.fail(a.header_at(), fmt::format("empty input: shape {} has no {}", a.shape_text(), name));
  if (d > static_cast<std::uint64_t>(kMaxDim))
    a.fail(a.header_at(), fmt::format("shape {}: {} {} is out of range", a.shape_text(), d, name));
  if (option > 0 && static_cast<std::uint64_t>(option) != d)
    a.fail(a.header_at(), fmt::format("shape {} has {} {} but the option says {}", a.shape_text(), d, name, option));
  return static_cast<int>(d);
}

}  // namespace

ImportResult import_npy_ids(const std::string& in, const std::string& out, const ImportOptions& opt) {
  for (auto [n, v] : {std::pair{"layers", opt.layers},
                      {"ranks", opt.ranks},
                      {"experts", opt.experts},
                      {"top_k", opt.top_k},
                      {"tokens_per_rank", opt.tokens_per_rank}})
    check_option(n, v);
  NpyReader a(in, {"<i2", "<i4"});
  if (a.shape().size() != 3)
    a.fail(a.header_at(), fmt::format("shape {}: expected [tokens, layers, top_k]", a.shape_text()));
  const std::uint64_t tokens = a.shape()[0];
  if (tokens == 0) a.fail(a.header_at(), "empty input: the array has no tokens");
  ImportResult res;
  TraceHeader& h = res.header;
  h.layers = dim(a, 1, "layers", opt.layers);
  h.top_k = dim(a, 2, "top_k", opt.top_k);
  h.ranks = opt.ranks > 0 ? opt.ranks : 1;
  const std::uint64_t tpr =
      opt.tokens_per_rank > 0 ? static_cast<std::uint64_t>(opt.tokens_per_rank) : tokens / h.ranks;
  const std::uint64_t per_step = tpr * h.ranks;
  if (tpr == 0 || tokens < per_step)
    a.fail(a.header_at(), fmt::format("{} tokens are fewer than one step ({} ranks x {} tokens per rank)", tokens,
                                      h.ranks, std::max<std::uint64_t>(tpr, 1)));
  if (tpr > kMaxBlockTokens)
    a.fail(a.header_at(),
           fmt::format("{} tokens per rank in one step; the trace format allows {} (set tokens_per_rank)", tpr,
                       kMaxBlockTokens));
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
    res.notes.push_back(
        fmt::format("experts = {} inferred as max expert id + 1; give the model's expert count "
                    "if some experts were never selected",
                    h.experts));

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

namespace {

// Splits each layer total over the ranks: rank r gets c / R, and the c mod R leftover tokens go one
// each to ranks e, e + 1, ... (mod R) so no rank is always favoured. Returns the step's total count.
template <class Int>
std::uint64_t write_counts_step(std::uint32_t step, const std::vector<Int>& m, const TraceHeader& h, TraceStep& st,
                                TraceWriter& w) {
  const std::size_t L = h.layers, R = h.ranks, E = h.experts;
  st.step = step;
  st.counts.assign(L * R * E, 0);
  st.tokens.clear();  // the counts-only form has no per-block token counts
  st.offsets.clear();
  st.experts.clear();
  st.weights.clear();
  std::uint64_t total = 0;
  for (std::size_t l = 0; l < L; ++l)
    for (std::size_t e = 0; e < E; ++e) {
      const auto c = static_cast<std::uint64_t>(m[l * E + e]);
      total += c;
      for (std::size_t r = 0; r < R; ++r)
        st.counts[(l * R + r) * E + e] = static_cast<std::uint32_t>(c / R + ((r + R - e % R) % R < c % R ? 1 : 0));
    }
  w.write(st);
  return total;
}

// Checks one cell against the format's limit after the split over ranks.
bool cell_fits(std::uint64_t c, int ranks) { return (c + ranks - 1) / ranks <= kMaxBlockTokens; }

}  // namespace

ImportResult import_counts(const std::string& in, const std::string& out, const ImportOptions& opt) {
  for (auto [n, v] :
       {std::pair{"layers", opt.layers}, {"ranks", opt.ranks}, {"experts", opt.experts}, {"top_k", opt.top_k}})
    check_option(n, v);
  std::string fmt_name = opt.format.empty() ? (lower_ext(in) == ".npy" ? "npy" : "csv") : opt.format;
  if (fmt_name != "csv" && fmt_name != "npy")
    throw InputError(fmt::format("counts import: unknown format \"{}\" (csv or npy)", opt.format));
  ImportResult res;
  TraceHeader& h = res.header;
  h.flags = TraceHeader::kFlagCountsOnly;
  h.ranks = opt.ranks > 0 ? opt.ranks : 1;
  h.top_k = opt.top_k > 0 ? opt.top_k : 1;
  if (opt.top_k == 0) res.notes.push_back("top_k = 1 (default; counts do not say how many experts a token picks)");
  if (opt.ranks == 0) res.notes.push_back("ranks = 1 (default)");
  std::vector<std::uint64_t> m;
  TraceStep st;

  if (fmt_name == "csv") {
    {  // pass 1: validate everything and learn the sizes
      CountsCsv csv(in, opt);
      std::uint32_t step = 0;
      while (csv.next(step, m))
        for (auto c : m)
          if (!cell_fits(c, h.ranks))
            throw InputError(fmt::format("{}: step {}: count {} over {} ranks exceeds {} per cell", in, step, c,
                                         h.ranks, kMaxBlockTokens));
      h.layers = csv.layers();
      h.experts = csv.experts();
    }
    CountsCsv csv(in, opt);
    TraceWriter writer(out, h);
    std::uint32_t step = 0;
    while (csv.next(step, m)) {
      res.tokens += write_counts_step(step, m, h, st, writer);
      ++res.steps;
    }
    writer.close();
  } else {
    NpyReader a(in, {"<i4", "<i8", "<f8"});
    const std::size_t nd = a.shape().size();
    if (nd != 2 && nd != 3)
      a.fail(a.header_at(),
             fmt::format("shape {}: expected [layers, experts] or [steps, layers, experts]", a.shape_text()));
    const std::uint64_t steps = nd == 3 ? a.shape()[0] : 1;
    if (steps == 0) a.fail(a.header_at(), "empty input: the array has no steps");
    h.layers = dim(a, nd - 2, "layers", opt.layers);
    h.experts = dim(a, nd - 1, "experts", opt.experts);
    const std::size_t per_step = static_cast<std::size_t>(h.layers) * h.experts;
    std::vector<std::int64_t> v;
    for (std::uint64_t s = 0; s < steps; ++s) {  // pass 1
      a.read(per_step, v);
      for (std::size_t i = 0; i < per_step; ++i) {
        const std::int64_t c = v[i];
        if (c < 0) a.fail(a.offset_of(s * per_step + i), fmt::format("negative count {}", c));
        if (!cell_fits(static_cast<std::uint64_t>(c), h.ranks))
          a.fail(a.offset_of(s * per_step + i),
                 fmt::format("count {} over {} ranks exceeds {} per cell", c, h.ranks, kMaxBlockTokens));
      }
    }
    a.rewind();
    TraceWriter writer(out, h);
    for (std::uint64_t s = 0; s < steps; ++s) {
      a.read(per_step, v);
      res.tokens += write_counts_step(static_cast<std::uint32_t>(s), v, h, st, writer);
    }
    writer.close();
    res.steps = steps;
  }
  h.steps = res.steps;
  res.tokens /= static_cast<std::uint64_t>(h.top_k);  // counts are assignments; tokens = assignments / top_k
  return res;
}

ImportResult import_trace(const std::string& kind, const std::string& in, const std::string& out,
                          const ImportOptions& opt) {
  if (kind == "rows") return import_rows(in, out, opt);
  if (kind == "npy") return import_npy_ids(in, out, opt);
  if (kind == "counts") return import_counts(in, out, opt);
  throw InputError(fmt::format("unknown trace import kind \"{}\" (rows, npy or counts)", kind));
}

}  // namespace moesim::io
