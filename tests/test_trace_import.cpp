// Trace importers: each example in scenarios/traces/ read back exactly; the mapping rules (npy
// tokens to steps and ranks, counts split over ranks); every bad input names its line or byte.
#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/trace_import.hpp"
#include "test_util.hpp"
#include "trace/trace.hpp"

using Catch::Contains;
using moesim::InputError;
using moesim::TraceHeader;
using moesim::TraceReader;
using moesim::TraceStep;
using moesim::io::ImportOptions;
using moesim::io::ImportResult;

namespace {

// The formulas of scenarios/traces/make_examples.py.
std::vector<std::int32_t> rows_ids(int step, int layer, int rank, int token) {
  const int e0 = (3 * step + 5 * layer + 7 * rank + token) % 8;
  return {e0, (e0 + 1 + (token + layer) % 7) % 8};
}
std::vector<std::int32_t> npy_ids(int token, int layer) {
  const int e0 = (3 * token + 5 * layer) % 16;
  return {e0, (e0 + 1 + token % 15) % 16};
}
std::uint32_t count(int step, int layer, int expert) {
  return static_cast<std::uint32_t>((7 * expert + 3 * layer + 5 * step) % 11);
}

std::vector<TraceStep> read_all(const std::string& path, TraceHeader& h) {
  TraceReader r(path);
  h = r.header();
  std::vector<TraceStep> steps;
  TraceStep s;
  while (r.next(s)) steps.push_back(s);
  return steps;
}

// Ids of token t in block (layer, rank) of a token-level step.
std::vector<std::int32_t> ids_of(const TraceStep& s, const TraceHeader& h, int layer, int rank, std::size_t t) {
  const auto at = s.offsets[static_cast<std::size_t>(layer * h.ranks + rank)] + t * static_cast<std::size_t>(h.top_k);
  return {s.experts.begin() + static_cast<std::ptrdiff_t>(at),
          s.experts.begin() + static_cast<std::ptrdiff_t>(at) + h.top_k};
}

// The message of the InputError that f throws (fails the test when it throws nothing).
template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  FAIL("expected an InputError");
  return {};
}

// A .npy v1.0 file: magic, version, u16 header length, the dict padded to 64 bytes, then data.
std::string npy(const std::string& descr, const std::string& shape, const void* data, std::size_t bytes,
                const std::string& fortran = "False") {
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
  while ((10 + dict.size() + 1) % 64 != 0) dict += ' ';
  dict += '\n';
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>(dict.size() >> 8);
  out += dict;
  out.append(static_cast<const char*>(data), bytes);
  return out;
}
template <class T>
std::string npy_of(const std::string& descr, const std::string& shape, const std::vector<T>& v) {
  return npy(descr, shape, v.data(), v.size() * sizeof(T));
}

struct Scratch {
  std::filesystem::path dir = moesim::test::scratch_dir("trace-import");
  std::string out = (dir / "out.trace").string();
  std::string file(const std::string& name, const std::string& text) const {
    auto p = dir / name;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }
};

}  // namespace

TEST_CASE("rows CSV example imports exactly, weights included", "[trace][import]") {
  Scratch s;
  const auto in = moesim::test::source_path("scenarios/traces/example_rows.csv");
  const ImportResult res = moesim::io::import_rows(in, s.out, {});
  // 2 steps x 2 layers x 2 ranks x 3 tokens = 24 rows; experts inferred: max id 7 + 1 = 8.
  CHECK(res.steps == 2);
  CHECK(res.tokens == 24);
  CHECK(res.header.experts == 8);
  CHECK_THAT(res.notes.at(2), Contains("experts = 8 inferred"));
  TraceHeader h;
  const auto steps = read_all(s.out, h);
  REQUIRE(steps.size() == 2);
  CHECK((h.layers == 2 && h.ranks == 2 && h.top_k == 2 && h.experts == 8 && h.has_weights()));
  for (int st = 0; st < 2; ++st) {
    CHECK(steps[st].step == static_cast<std::uint32_t>(st));
    for (int l = 0; l < 2; ++l)
      for (int r = 0; r < 2; ++r) {
        REQUIRE(steps[st].tokens[static_cast<std::size_t>(l * 2 + r)] == 3);
        for (int t = 0; t < 3; ++t)
          CHECK(ids_of(steps[st], h, l, r, static_cast<std::size_t>(t)) == rows_ids(st, l, r, t));
      }
    for (std::size_t i = 0; i < steps[st].weights.size(); ++i)
      CHECK(steps[st].weights[i] == (i % 2 == 0 ? 0.625f : 0.375f));
  }
}

TEST_CASE("rows JSONL example matches the CSV one, options override inference", "[trace][import]") {
  Scratch s;
  ImportOptions opt;
  opt.experts = 12;
  const auto res =
      moesim::io::import_rows(moesim::test::source_path("scenarios/traces/example_rows.jsonl"), s.out, opt);
  CHECK(res.header.experts == 12);
  CHECK(res.notes.size() == 2);  // layers and ranks inferred, experts given
  TraceHeader h;
  const auto steps = read_all(s.out, h);
  REQUIRE(steps.size() == 2);
  CHECK(!h.has_weights());
  for (int st = 0; st < 2; ++st)
    for (int l = 0; l < 2; ++l)
      for (int r = 0; r < 2; ++r)
        for (int t = 0; t < 3; ++t)
          CHECK(ids_of(steps[st], h, l, r, static_cast<std::size_t>(t)) == rows_ids(st, l, r, t));
}

TEST_CASE("rows: sparse token ids, empty blocks and kept step numbers", "[trace][import]") {
  Scratch s;
  // Step 5 then step 9; rank 1 of layer 0 has no tokens in step 5; token ids only order tokens.
  const auto in = s.file("r.csv", "step,layer,rank,token,e0\n5,0,0,40,3\n5,0,0,7,1\n5,1,1,0,2\n9,0,1,0,0\n");
  ImportOptions opt;
  opt.layers = 2;
  const auto res = moesim::io::import_rows(in, s.out, opt);
  TraceHeader h;
  const auto steps = read_all(s.out, h);
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].step == 5);
  CHECK(steps[1].step == 9);
  CHECK(steps[0].tokens == std::vector<std::uint32_t>{2, 0, 0, 1});
  CHECK(steps[0].experts == std::vector<std::int32_t>{1, 3, 2});  // token 7 before token 40
  CHECK(steps[1].tokens == std::vector<std::uint32_t>{0, 1, 0, 0});
  CHECK(res.tokens == 4);
}

TEST_CASE("npy ids example: tokens fill ranks, then steps, a partial step is dropped", "[trace][import]") {
  Scratch s;
  const auto in = moesim::test::source_path("scenarios/traces/example_ids.npy");
  ImportOptions opt;
  opt.ranks = 4;
  opt.tokens_per_rank = 8;
  // 64 tokens / (4 ranks x 8) = 2 full steps; token t of step st on rank r at position i is
  // t = st * 32 + r * 8 + i.
  auto res = moesim::io::import_npy_ids(in, s.out, opt);
  CHECK(res.steps == 2);
  CHECK(res.tokens == 128);  // 64 tokens x 2 layers
  TraceHeader h;
  auto steps = read_all(s.out, h);
  REQUIRE(steps.size() == 2);
  CHECK((h.layers == 2 && h.experts == 16 && h.top_k == 2 && h.ranks == 4));
  for (int st = 0; st < 2; ++st)
    for (int l = 0; l < 2; ++l)
      for (int r = 0; r < 4; ++r)
        for (int i = 0; i < 8; ++i)
          CHECK(ids_of(steps[st], h, l, r, static_cast<std::size_t>(i)) == npy_ids(st * 32 + r * 8 + i, l));

  opt.tokens_per_rank = 6;  // 24 tokens per step: 2 steps use 48, the last 16 are dropped
  res = moesim::io::import_npy_ids(in, s.out, opt);
  CHECK(res.steps == 2);
  CHECK_THAT(res.notes.at(0), Contains("dropped the last 16 tokens"));
  steps = read_all(s.out, h);
  CHECK(ids_of(steps[1], h, 1, 3, 5) == npy_ids(24 + 3 * 6 + 5, 1));

  res = moesim::io::import_npy_ids(in, s.out, {});  // defaults: one rank, all 64 tokens in one step
  CHECK((res.steps == 1 && res.header.ranks == 1));
  steps = read_all(s.out, h);
  CHECK(ids_of(steps[0], h, 1, 0, 63) == npy_ids(63, 1));
}

TEST_CASE("npy ids: int32 and version 2 headers", "[trace][import]") {
  Scratch s;
  const std::vector<std::int32_t> v{70000, 3, 1, 2};  // 2 tokens x 1 layer x 2; wide ids
  const auto in = s.file("w.npy", npy_of("<i4", "(2, 1, 2)", v));
  const auto res = moesim::io::import_npy_ids(in, s.out, {});
  CHECK(res.header.experts == 70001);
  TraceHeader h;
  const auto steps = read_all(s.out, h);
  CHECK(steps.at(0).experts == v);
  // Version 2.0: a u32 header length, the dict starts at byte 12.
  std::string v1 = npy_of("<i4", "(2, 1, 2)", v), v2 = v1.substr(0, 8) + std::string(4, '\0') + v1.substr(10);
  v2[6] = 2;
  const auto len = static_cast<std::uint32_t>(v1[8] & 0xff) | static_cast<std::uint32_t>((v1[9] & 0xff) << 8);
  std::memcpy(v2.data() + 8, &len, 4);
  CHECK(moesim::io::import_npy_ids(s.file("v2.npy", v2), s.out, {}).header.experts == 70001);
}

TEST_CASE("count matrices: CSV and npy examples agree, ranks split counts evenly", "[trace][import]") {
  Scratch s;
  for (const char* name : {"scenarios/traces/example_counts.csv", "scenarios/traces/example_counts.npy"}) {
    INFO(name);
    const auto res = moesim::io::import_counts(moesim::test::source_path(name), s.out, {});
    TraceHeader h;
    const auto steps = read_all(s.out, h);
    REQUIRE(steps.size() == 2);
    CHECK((h.counts_only() && h.layers == 2 && h.experts == 8 && h.ranks == 1 && h.top_k == 1));
    std::uint64_t total = 0;
    for (int st = 0; st < 2; ++st)
      for (int l = 0; l < 2; ++l)
        for (int e = 0; e < 8; ++e) {
          CHECK(steps[st].counts[static_cast<std::size_t>(l * 8 + e)] == count(st, l, e));
          total += count(st, l, e);
        }
    CHECK(res.tokens == total);  // top_k = 1: tokens = assignments
  }
  ImportOptions opt;
  opt.ranks = 3;
  opt.top_k = 2;
  const auto res =
      moesim::io::import_counts(moesim::test::source_path("scenarios/traces/example_counts.csv"), s.out, opt);
  TraceHeader h;
  const auto steps = read_all(s.out, h);
  const auto at = [&](int st, int l, int r, int e) {
    return steps[st].counts[static_cast<std::size_t>((l * 3 + r) * 8 + e)];
  };
  // Step 0, layer 0, expert 3: count 10 = 3 x 3 + 1; the leftover goes to rank 3 mod 3 = 0.
  CHECK((at(0, 0, 0, 3) == 4 && at(0, 0, 1, 3) == 3 && at(0, 0, 2, 3) == 3));
  // Expert 1: count 7 = 3 x 2 + 1; the leftover goes to rank 1.
  CHECK((at(0, 0, 0, 1) == 2 && at(0, 0, 1, 1) == 3 && at(0, 0, 2, 1) == 2));
  // Layer 1, expert 5: count (35 + 3) mod 11 = 5 = 3 + 2: leftovers to ranks 5 mod 3 = 2, then 0.
  CHECK((at(0, 1, 0, 5) == 2 && at(0, 1, 1, 5) == 1 && at(0, 1, 2, 5) == 2));
  for (int st = 0; st < 2; ++st)
    for (int l = 0; l < 2; ++l)
      for (int e = 0; e < 8; ++e) CHECK(at(st, l, 0, e) + at(st, l, 1, e) + at(st, l, 2, e) == count(st, l, e));
  // Counts are assignments: tokens = the example's total count over both steps / top_k = 164 / 2.
  CHECK(res.tokens == 82);
}

TEST_CASE("count CSV without header or step column, float64 npy", "[trace][import]") {
  Scratch s;
  // No header: rows are layers; with layers = 2, four rows are two steps.
  const auto in = s.file("c.csv", "1,2,3\n4,5,6\n7,8,9\n1.0e+01,11,12\n");
  ImportOptions opt;
  opt.layers = 2;
  const auto res = moesim::io::import_counts(in, s.out, opt);
  CHECK((res.steps == 2 && res.header.experts == 3));
  TraceHeader h;
  auto steps = read_all(s.out, h);
  CHECK(steps[1].counts == std::vector<std::uint32_t>{7, 8, 9, 10, 11, 12});
  CHECK(steps[1].step == 1);
  // Without the option the four rows are one step of four layers.
  CHECK(moesim::io::import_counts(in, s.out, {}).header.layers == 4);
  // A header with a step column only: rows of a step are layers 0, 1, ... in order.
  moesim::io::import_counts(s.file("d.csv", "step,a,b\n3,1,2\n3,3,4\n8,5,6\n8,7,8\n"), s.out, {});
  steps = read_all(s.out, h);
  CHECK((steps.size() == 2 && steps[1].step == 8 && steps[1].counts == std::vector<std::uint32_t>{5, 6, 7, 8}));
  const std::vector<double> f{1, 2, 3, 4, 5, 6};
  moesim::io::import_counts(s.file("f.npy", npy_of("<f8", "(2, 3)", f)), s.out, {});
  steps = read_all(s.out, h);
  CHECK((steps.size() == 1 && steps[0].counts == std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6}));
}

TEST_CASE("bad rows name the file and line", "[trace][import][errors]") {
  Scratch s;
  const std::string head = "step,layer,rank,token,e0,e1\n";
  const auto err = [&](const std::string& text, ImportOptions opt = {}, const char* name = "b.csv") {
    return input_error([&] { moesim::io::import_rows(s.file(name, text), s.out, opt); });
  };
  CHECK_THAT(err(head + "0,0,0,0,1,2\n0,0,0,1,1\n"), Contains("b.csv:3: 5 columns, the header has 6"));
  CHECK_THAT(err(head + "0,0,0,0,1,x\n"), Contains("b.csv:2: e1: expected an integer, got \"x\""));
  CHECK_THAT(err(head + "0,0,0,0,1,2.5\n"), Contains("b.csv:2: e1: expected an integer"));
  CHECK_THAT(err(head + "# comment\n0,0,0,0,1,-2\n"), Contains("b.csv:3: e1 = -2 is out of range"));
  ImportOptions four;
  four.experts = 4;
  CHECK_THAT(err(head + "0,0,0,0,1,4\n", four), Contains("b.csv:2: e1 = 4 is out of range [0, 3]"));
  CHECK_THAT(err(head + "0,0,0,0,3,3\n"), Contains("b.csv:2: expert 3 appears twice in one token"));
  CHECK_THAT(err(head + "1,0,0,0,1,2\n0,0,0,0,1,2\n"),
             Contains("b.csv:3: step 0 after step 1: steps must be non-decreasing"));
  CHECK_THAT(err(head + "0,0,0,4,1,2\n0,0,1,4,1,2\n0,0,0,4,3,2\n"),
             Contains("b.csv:4: duplicate row for step 0 layer 0 rank 0 token 4 (also on line 2)"));
  CHECK_THAT(err(head), Contains("b.csv: empty input"));
  CHECK_THAT(err(""), Contains("b.csv: empty input"));
  CHECK_THAT(err("step,layer,rank,tok,e0\n"), Contains("b.csv:1: expected the header"));
  CHECK_THAT(err("step,layer,rank,token,e0,e1,w0\n"),
             Contains("b.csv:1: header has 2 expert columns but 1 weight columns"));
  CHECK_THAT(err("step,layer,rank,token,e0,w0\n0,0,0,0,1,nan\n"), Contains("b.csv:2: gate weight nan is not a finite"));
  ImportOptions one_layer;
  one_layer.layers = 1;
  CHECK_THAT(err(head + "0,1,0,0,1,2\n", one_layer), Contains("b.csv:2: layer = 1 is out of range [0, 0]"));
  // JSONL
  const auto row = [](const std::string& extra) {
    return "{\"step\":0,\"layer\":0,\"rank\":0,\"token\":0" + extra + "}\n";
  };
  CHECK_THAT(err(row(",\"experts\":[1,2]") + "{\"step\":0,\n", {}, "b.jsonl"), Contains("b.jsonl:2: invalid JSON"));
  CHECK_THAT(err(row(",\"experts\":[1,2.5]"), {}, "b.jsonl"),
             Contains("b.jsonl:1: \"experts\": expected an integer, got 2.5"));
  CHECK_THAT(err(row(",\"experts\":[1,2]") + row(",\"experts\":[1]"), {}, "b.jsonl"),
             Contains("b.jsonl:2: \"experts\" has 1 ids; expected top_k = 2"));
  CHECK_THAT(err(row(",\"experts\":[1,1]"), {}, "b.jsonl"), Contains("b.jsonl:1: expert 1 appears twice"));
  CHECK_THAT(err(row(",\"experts\":[1,2],\"weight\":[1,1]"), {}, "b.jsonl"),
             Contains("b.jsonl:1: unknown key \"weight\""));
  CHECK_THAT(err(row(",\"experts\":[1,2],\"weights\":[1,1]") + row(",\"experts\":[1,2]"), {}, "b.jsonl"),
             Contains("b.jsonl:2: \"weights\" missing"));
  CHECK_THAT(err("{\"step\":0,\"layer\":0,\"rank\":0,\"experts\":[1]}\n", {}, "b.jsonl"),
             Contains("b.jsonl:1: missing key \"token\""));
  CHECK_THAT(err("[1,2]\n", {}, "b.jsonl"), Contains("b.jsonl:1: expected a JSON object"));
  // Every check runs in the first pass, before the output is created.
  CHECK(!std::filesystem::exists(s.out));
}

TEST_CASE("bad npy id arrays name the byte offset", "[trace][import][errors]") {
  Scratch s;
  const auto err = [&](const std::string& bytes, ImportOptions opt = {}) {
    return input_error([&] { moesim::io::import_npy_ids(s.file("b.npy", bytes), s.out, opt); });
  };
  // 2 tokens x 1 layer x 2 ids; the dict is padded so the data starts at byte 128.
  const std::vector<std::int16_t> ok{0, 1, 2, 3};
  CHECK(moesim::io::import_npy_ids(s.file("ok.npy", npy_of("<i2", "(2, 1, 2)", ok)), s.out, {}).steps == 1);
  CHECK_THAT(err("PK\x03\x04 not numpy at all"), Contains("b.npy: byte 0: not a .npy file"));
  CHECK_THAT(err(""), Contains("b.npy: byte 0: empty input"));
  CHECK_THAT(err(npy_of("<f4", "(2, 1, 2)", std::vector<float>{0, 1, 2, 3})),
             Contains("b.npy: byte 10: dtype '<f4' is not supported here"));
  CHECK_THAT(err(npy_of(">i2", "(2, 1, 2)", ok)), Contains("dtype '>i2'"));
  CHECK_THAT(err(npy_of("<i2", "(4, 1)", ok)),
             Contains("b.npy: byte 10: shape (4, 1): expected [tokens, layers, top_k]"));
  CHECK_THAT(err(npy_of("<i2", "(2, 2, 2)", ok)),
             Contains("b.npy: byte 136: truncated: shape needs 16 data bytes from byte 128, the file has 8"));
  CHECK_THAT(err(npy_of("<i2", "(1, 1, 2)", ok)), Contains("b.npy: byte 132: 4 trailing bytes"));
  CHECK_THAT(err(npy("<i2", "(2, 1, 2)", ok.data(), 8, "True")), Contains("fortran_order"));
  CHECK_THAT(err(npy_of("<i2", "(2, 1, 2)", ok).substr(0, 40)), Contains("b.npy: byte 40: truncated .npy header"));
  CHECK_THAT(err(npy_of("<i2", "(0, 1, 2)", std::vector<std::int16_t>{})), Contains("empty input"));
  // Element i sits at byte 128 + 2 i.
  CHECK_THAT(err(npy_of("<i2", "(2, 1, 2)", std::vector<std::int16_t>{0, 1, -1, 3})),
             Contains("b.npy: byte 132: expert id -1 is out of range"));
  CHECK_THAT(err(npy_of("<i2", "(2, 1, 2)", std::vector<std::int16_t>{0, 1, 3, 3})),
             Contains("b.npy: byte 132: token 1 layer 0: expert 3 appears twice"));
  ImportOptions three;
  three.experts = 3;
  CHECK_THAT(err(npy_of("<i2", "(2, 1, 2)", ok), three),
             Contains("b.npy: byte 134: expert id 3 is out of range [0, 3)"));
  ImportOptions big;
  big.ranks = 2;
  big.tokens_per_rank = 2;
  CHECK_THAT(err(npy_of("<i2", "(2, 1, 2)", ok), big),
             Contains("2 tokens are fewer than one step (2 ranks x 2 tokens per rank)"));
  ImportOptions k3;
  k3.top_k = 3;
  CHECK_THAT(err(npy_of("<i2", "(2, 1, 2)", ok), k3), Contains("has 2 top_k but the option says 3"));
}

TEST_CASE("bad count matrices name the line or byte", "[trace][import][errors]") {
  Scratch s;
  const auto err = [&](const std::string& name, const std::string& text, ImportOptions opt = {}) {
    return input_error([&] { moesim::io::import_counts(s.file(name, text), s.out, opt); });
  };
  // The .npy files below have their data at byte 128 (a 64-byte-aligned v1.0 header).
  CHECK_THAT(err("c.csv", "1,2\n3,-4\n"), Contains("c.csv:2: expert 1: negative count -4"));
  CHECK_THAT(err("c.csv", "1,2\n3,4.5\n"), Contains("c.csv:2: expert 1: expected a count (an integer), got \"4.5\""));
  CHECK_THAT(err("c.csv", "1,2\n3\n"), Contains("c.csv:2: 1 columns; expected 2"));
  CHECK_THAT(err("c.csv", ""), Contains("c.csv: empty input"));
  CHECK_THAT(err("c.csv", "step,layer,e0\n"), Contains("c.csv: empty input"));
  CHECK_THAT(err("c.csv", "step,e0\n1,5\n0,5\n"), Contains("c.csv:3: step 0 after step 1"));
  CHECK_THAT(err("c.csv", "step,layer,e0\n0,0,1\n0,0,2\n"), Contains("c.csv:3: layer 0 again (also on line 2)"));
  CHECK_THAT(err("c.csv", "step,layer,e0\n0,0,1\n0,1,1\n1,1,2\n"),
             Contains("c.csv:4: the step starting here has 1 rows; expected 2"));
  CHECK_THAT(err("c.csv", "step,layer,e0\n0,0,1\n0,2,1\n"), Contains("c.csv:3: layer 2 is out of range [0, 2)"));
  CHECK_THAT(err("c.csv", "experts,e0\n1,2\n"), Contains("c.csv:1: header column 1 is \"experts\""));
  ImportOptions two;
  two.layers = 2;
  CHECK_THAT(err("c.csv", "1\n2\n3\n", two), Contains("c.csv:3: the step starting here has 1 rows; expected 2"));
  CHECK_THAT(err("c.npy", npy_of("<i4", "(1, 3)", std::vector<std::int32_t>{1, -2, 3})),
             Contains("c.npy: byte 132: negative count -2"));
  CHECK_THAT(err("c.npy", npy_of("<f8", "(1, 2)", std::vector<double>{1, 2.5})),
             Contains("c.npy: byte 136: value 2.5 is not an integer"));
  CHECK_THAT(err("c.npy", npy_of("<i2", "(1, 2)", std::vector<std::int16_t>{1, 2})),
             Contains("c.npy: byte 10: dtype '<i2'"));
  CHECK_THAT(err("c.npy", npy_of("<i4", "(3,)", std::vector<std::int32_t>{1, 2, 3})),
             Contains("shape (3,): expected [layers, experts]"));
  CHECK_THAT(err("c.npy", npy_of("<i8", "(2, 2)", std::vector<std::int64_t>{1, 2, 3})),
             Contains("c.npy: byte 152: truncated"));
  CHECK_THAT(err("c.npy", npy_of("<i8", "(1, 1)", std::vector<std::int64_t>{1 << 25})),
             Contains("exceeds 16777216 per cell"));
  CHECK_THAT(input_error([&] { moesim::io::import_trace("ids", "x", s.out, {}); }), Contains("rows, npy or counts"));
  CHECK(!std::filesystem::exists(s.out));
}

TEST_CASE("a JSONL number too large for JSON is an input error with its line (fuzz finding)", "[trace]") {
  const auto dir = moesim::test::scratch_dir("jsonl-overflow");
  const std::string in = moesim::test::write_file(
      dir, "rows.jsonl", "{\"step\": 0, \"layer\": 0, \"rank\": 1336E66666666674, \"token\": 0, \"experts\": [1]}\n");
  REQUIRE_THROWS_WITH(moesim::io::import_trace("rows", in, (dir / "t.moetrace").string(), moesim::io::ImportOptions{}),
                      Catch::Contains("rows.jsonl:1") && Catch::Contains("invalid JSON"));
}

TEST_CASE("a JSONL row that repeats a key names the line and the key (issue 20)", "[trace][import][errors]") {
  Scratch s;
  const auto err = [&](const std::string& text) {
    return input_error([&] { moesim::io::import_rows(s.file("dup.jsonl", text), s.out, {}); });
  };
  const std::string good = "{\"step\":0,\"layer\":0,\"rank\":0,\"token\":0,\"experts\":[1,2]}\n";
  // nlohmann::json alone keeps the last "experts" and would import [3,4] without a word.
  CHECK_THAT(err(good + "{\"step\":0,\"layer\":0,\"rank\":0,\"token\":1,\"experts\":[1,2],\"experts\":[3,4]}\n"),
             Contains("dup.jsonl:2: duplicate key \"experts\""));
  CHECK_THAT(err("{\"step\":0,\"step\":1,\"layer\":0,\"rank\":0,\"token\":0,\"experts\":[1,2]}\n"),
             Contains("dup.jsonl:1: duplicate key \"step\""));
  CHECK(!std::filesystem::exists(s.out));
  // The same key in different objects is no repeat (checked per object): the row imports cleanly.
  moesim::io::import_rows(s.file("ok.jsonl", good), s.out, {});
  CHECK(std::filesystem::exists(s.out));
}
