// Trace statistics: closed-form load balance, co-selection pairs (flat and hash-map paths),
// step-to-step drift, counts-only traces, and the text / JSON renderings.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/trace_import.hpp"
#include "io/trace_stats_io.hpp"
#include "report/trace_stats.hpp"
#include "test_util.hpp"
#include "trace/trace.hpp"

using Catch::Contains;
using moesim::TraceHeader;
using moesim::TraceReader;
using moesim::TraceStep;
using moesim::TraceWriter;

namespace {

// One layer, one rank; each step is a list of tokens, each token its top_k ids.
std::string write_trace(const std::string& path, int experts, int top_k,
                        const std::vector<std::vector<std::vector<std::int32_t>>>& steps) {
  TraceHeader h;
  h.layers = 1;
  h.ranks = 1;
  h.experts = experts;
  h.top_k = top_k;
  TraceWriter w(path, h);
  TraceStep st;
  for (std::size_t s = 0; s < steps.size(); ++s) {
    st.step = static_cast<std::uint32_t>(s);
    st.tokens = {static_cast<std::uint32_t>(steps[s].size())};
    st.index(top_k);
    st.experts.clear();
    for (const auto& tok : steps[s]) st.experts.insert(st.experts.end(), tok.begin(), tok.end());
    w.write(st);
  }
  w.close();
  return path;
}

}  // namespace

TEST_CASE("one expert in every token: max/mean = experts / top_k", "[trace][stats]") {
  const auto dir = moesim::test::scratch_dir("trace-stats");
  // Imported from rows: 8 experts, top-2, 2 steps x 2 ranks x 2 tokens; every token picks expert 0
  // and one of experts 1..4 (token t of rank r picks 1 + 2r + t), the same in both steps.
  std::string csv = "step,layer,rank,token,e0,e1\n";
  for (int s = 0; s < 2; ++s)
    for (int r = 0; r < 2; ++r)
      for (int t = 0; t < 2; ++t) csv += fmt::format("{},0,{},{},0,{}\n", s, r, t, 1 + 2 * r + t);
  moesim::io::ImportOptions opt;
  opt.experts = 8;
  const auto in = moesim::test::write_file(dir, "hot.csv", csv), out = (dir / "hot.trace").string();
  moesim::io::import_rows(in, out, opt);
  TraceReader reader(out);
  const auto stats = moesim::compute_trace_stats(reader, 3, 2);
  REQUIRE(stats.layers.size() == 1);
  const auto& l = stats.layers[0];
  // 8 tokens x 2 = 16 assignments; expert 0 has 8, experts 1..4 have 2 each, 5..7 none.
  // mean = 16 / 8 = 2; max / mean = 8 / 2 = 4 = experts / top_k.
  CHECK(stats.steps == 2);
  CHECK(l.tokens == 8);
  CHECK(l.assignments == 16);
  CHECK(l.load_max == 8);
  CHECK(l.load_mean == 2.0);
  CHECK(l.load_max_over_mean == 4.0);
  // Deviations from 2: +6 once, 0 four times, -2 three times: variance (36 + 3 x 4) / 8 = 6,
  // cv = sqrt(6) / 2.
  CHECK(l.load_cv == Approx(std::sqrt(6.0) / 2).epsilon(1e-12));
  CHECK(l.experts_unused == 3);
  REQUIRE(l.top_experts.size() == 2);
  CHECK((l.top_experts[0].expert == 0 && l.top_experts[0].share == 0.5));
  CHECK((l.top_experts[1].expert == 1 && l.top_experts[1].count == 2 && l.top_experts[1].share == 0.125));
  // Pairs (0, j) for j = 1..4, 2 tokens each: share 2 / 8 tokens; ties go to the lower ids.
  REQUIRE(l.top_pairs.size() == 3);
  CHECK((l.top_pairs[0].a == 0 && l.top_pairs[0].b == 1 && l.top_pairs[0].count == 2 && l.top_pairs[0].share == 0.25));
  CHECK((l.top_pairs[2].a == 0 && l.top_pairs[2].b == 3));
  // Both steps are the same: no drift.
  CHECK(l.drift_tv_mean == 0.0);
  CHECK(l.drift_pairs == 1);
  CHECK(stats.worst_layer == 0);
}

TEST_CASE("drift is the total-variation distance between consecutive steps", "[trace][stats]") {
  const auto dir = moesim::test::scratch_dir("trace-drift");
  // Step 0: both tokens pick {0, 1}; step 1: {2, 3} (disjoint, TV = 1); step 2: empty (skipped);
  // step 3: one token {2, 3} and one {0, 2}: p = (1/4, 0, 2/4, 1/4) against (0, 0, 1/2, 1/2):
  // TV = 0.5 (1/4 + 0 + 0 + 1/4) = 1/4. Mean over the two compared pairs = (1 + 1/4) / 2.
  const auto path =
      write_trace((dir / "d.trace").string(), 4, 2, {{{0, 1}, {1, 0}}, {{2, 3}, {3, 2}}, {}, {{2, 3}, {0, 2}}});
  TraceReader reader(path);
  const auto l = moesim::compute_trace_stats(reader).layers.at(0);
  CHECK(l.drift_pairs == 2);
  CHECK(l.drift_tv_max == 1.0);
  CHECK(l.drift_tv_mean == Approx(0.625).epsilon(1e-12));
  // Pairs: {0,1} x 2, {2,3} x 3, {0,2} x 1 over 6 tokens.
  REQUIRE(l.top_pairs.size() == 3);
  CHECK((l.top_pairs[0].a == 2 && l.top_pairs[0].b == 3 && l.top_pairs[0].count == 3 && l.top_pairs[0].share == 0.5));
  CHECK((l.top_pairs[1].a == 0 && l.top_pairs[1].b == 1 && l.top_pairs[1].count == 2));
  CHECK((l.top_pairs[2].a == 0 && l.top_pairs[2].b == 2 && l.top_pairs[2].count == 1));
}

TEST_CASE("more than 1024 experts: pairs through the hash map give the same answer", "[trace][stats]") {
  const auto dir = moesim::test::scratch_dir("trace-wide");
  const auto path = write_trace((dir / "w.trace").string(), 2000, 3, {{{0, 1999, 7}, {1999, 1500, 7}}, {{1999, 7, 3}}});
  TraceReader reader(path);
  const auto l = moesim::compute_trace_stats(reader, 2).layers.at(0);
  // {7,1999} in all 3 tokens; then {0,7}, {0,1999}, {3,7}, ... once each: lowest ids first.
  REQUIRE(l.top_pairs.size() == 2);
  CHECK(
      (l.top_pairs[0].a == 7 && l.top_pairs[0].b == 1999 && l.top_pairs[0].count == 3 && l.top_pairs[0].share == 1.0));
  CHECK((l.top_pairs[1].a == 0 && l.top_pairs[1].b == 7 && l.top_pairs[1].count == 1));
  CHECK((l.load_max == 3 && l.experts_unused == 1995));  // 5 of 2000 experts used
}

TEST_CASE("counts-only traces: loads from counts, no pairs, text and JSON", "[trace][stats]") {
  const auto dir = moesim::test::scratch_dir("trace-counts-stats");
  const auto out = (dir / "c.trace").string();
  moesim::io::import_counts(moesim::test::source_path("scenarios/traces/example_counts.csv"), out, {});
  TraceReader reader(out);
  const auto stats = moesim::compute_trace_stats(reader);
  CHECK(!stats.pairs_available);
  // Layer 0, step 0: (7e) mod 11 = 0 7 3 10 6 2 9 5 (sum 42); step 1: (7e + 5) mod 11 =
  // 5 1 8 4 0 7 3 10 (sum 38). Totals 5 8 11 14 6 9 12 15: max 15, mean 80 / 8 = 10.
  const auto& l = stats.layers.at(0);
  CHECK(l.assignments == 80);
  CHECK(l.tokens == 80);  // top_k = 1
  CHECK(l.load_max == 15);
  CHECK(l.load_max_over_mean == 1.5);
  CHECK(l.top_experts.at(0).expert == 7);
  CHECK(l.top_pairs.empty());
  // Drift: 0.5 x sum |a/42 - b/38| over the two steps' vectors above.
  const double a[] = {0, 7, 3, 10, 6, 2, 9, 5}, b[] = {5, 1, 8, 4, 0, 7, 3, 10};
  double tv = 0;
  for (int e = 0; e < 8; ++e) tv += 0.5 * std::fabs(a[e] / 42 - b[e] / 38);
  CHECK(l.drift_tv_mean == Approx(tv).epsilon(1e-12));

  const auto text = moesim::io::trace_stats_text(stats);
  CHECK_THAT(text, Contains("counts-only"));
  CHECK_THAT(text, Contains("layer 0 top experts (share of assignments): 7 (18.8%)"));
  const auto j = nlohmann::json::parse(moesim::io::trace_stats_json(stats));
  CHECK(j["form"] == "counts_only");
  CHECK(j["per_layer"][0]["load_max"] == 15);
  CHECK(j["per_layer"][0]["top_experts"][0]["expert"] == 7);
  CHECK(j["per_layer"][1]["layer"] == 1);
  CHECK(j["assignments"] == stats.assignments);
}

TEST_CASE("stats of the imported npy example: every token counted once per layer", "[trace][stats]") {
  const auto dir = moesim::test::scratch_dir("trace-npy-stats");
  const auto out = (dir / "n.trace").string();
  moesim::io::ImportOptions opt;
  opt.ranks = 4;
  opt.tokens_per_rank = 8;
  moesim::io::import_npy_ids(moesim::test::source_path("scenarios/traces/example_ids.npy"), out, opt);
  TraceReader reader(out);
  const auto stats = moesim::compute_trace_stats(reader);
  REQUIRE(stats.layers.size() == 2);
  // 64 tokens, top-2: 128 assignments per layer over 16 experts, mean 8. The first id of token t in
  // layer 0 is 3t mod 16, which visits every expert exactly 4 times (3 is coprime with 16).
  CHECK(stats.tokens == 128);
  CHECK(stats.layers[0].assignments == 128);
  CHECK(stats.layers[0].load_mean == 8.0);
  const auto text = moesim::io::trace_stats_text(stats);
  CHECK_THAT(text, Contains("top pairs (share of tokens):"));
  const auto j = nlohmann::json::parse(moesim::io::trace_stats_json(stats));
  CHECK(j["per_layer"][0]["top_pairs"].size() == 10);
}
