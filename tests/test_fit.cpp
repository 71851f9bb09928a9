// calibrate/fit: measurement JSON (round trip, strict errors), PAVA, and the profile fitted from the
// recorded H100-shaped sample (tests/data/calibration/h100_sample.json, synthetic).
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.hpp"
#include "fit/measurements.hpp"
#include "fit/profile_fit.hpp"
#include "gpu/compute_model.hpp"
#include "io/profile_io.hpp"
#include "io/scenario_loader.hpp"
#include "io/toml_reader.hpp"
#include "test_util.hpp"

using moesim::Phase;
using moesim::fit::Measurements;
using nlohmann::json;

namespace {

std::string sample_path() { return moesim::test::source_path("tests/data/calibration/h100_sample.json"); }

moesim::Profile h100_base() {
  return moesim::io::load_profile(moesim::test::source_path("calibrate/profiles/h100-sxm-datasheet.toml"));
}

json sample_json() {
  std::ifstream in(sample_path());
  return json::parse(in);
}

// Expects measurements_from_json to fail with a message starting "where: <pointer>" and holding
// `fragment`.
void expect_json_error(const json& j, const std::string& pointer, const std::string& fragment) {
  INFO(pointer << " / " << fragment);
  try {
    moesim::fit::measurements_from_json(j, "m.json");
    FAIL("accepted bad measurements");
  } catch (const moesim::InputError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.rfind("m.json: " + pointer + ":", 0) == 0);
    CHECK(msg.find(fragment) != std::string::npos);
  }
}

bool non_decreasing(const std::vector<double>& v) { return std::is_sorted(v.begin(), v.end()); }

bool has_note(const std::vector<std::string>& notes, const std::string& fragment) {
  return std::any_of(notes.begin(), notes.end(),
                     [&](const std::string& n) { return n.find(fragment) != std::string::npos; });
}

}  // namespace

TEST_CASE("the sample measurement file loads and round-trips through JSON", "[fit]") {
  const Measurements m = moesim::fit::load_measurements(sample_path());
  CHECK(m.meta.device == "NVIDIA H100 80GB HBM3 (sample for tests, not a real run)");
  CHECK(m.meta.gpus == 8);
  REQUIRE(m.device);
  CHECK(m.device->copy_GBps == 2814.0);
  CHECK(m.kernels.size() == 123);
  CHECK(m.alltoall.size() == 9);
  REQUIRE(m.layers.size() == 1);
  CHECK(m.layers[0].tokens_per_expert.size() == 256);

  CHECK(moesim::fit::measurements_from_json(moesim::fit::measurements_to_json(m), "again") == m);
  const auto dir = moesim::test::scratch_dir("fit-roundtrip");
  const std::string path = (dir / "m.json").string();
  moesim::fit::save_measurements(m, path);
  CHECK(moesim::fit::load_measurements(path) == m);

  // A partly measured device and empty tables round-trip too (unmeasured fields stay -1).
  Measurements small;
  small.meta.device = "GPU";
  small.device = moesim::fit::DeviceMeasurement{};
  small.device->launch_ns = 1500;
  CHECK(moesim::fit::measurements_from_json(moesim::fit::measurements_to_json(small), "small") == small);
  CHECK(moesim::fit::measurements_to_json(small)["device"] == json{{"launch_ns", 1500.0}});
}

TEST_CASE("bad measurement files name the file and the JSON pointer", "[fit]") {
  const json good = sample_json();
  REQUIRE_NOTHROW(moesim::fit::measurements_from_json(good, "m.json"));
  json j = good;
  j["kernels"][3]["medain_us"] = 1.0;
  expect_json_error(j, "/kernels/3/medain_us", "unknown key \"medain_us\"");
  j = good;
  j["kernels"][3]["median_us"] = -1.0;
  expect_json_error(j, "/kernels/3/median_us", "out of range");
  j = good;
  j["alltoall"][0].erase("busbw_GBps");
  expect_json_error(j, "/alltoall/0", "missing field \"busbw_GBps\"");
  j = good;
  j["version"] = 2;
  expect_json_error(j, "/version", "version 2 is not supported");
  j = good;
  j["format"] = "moesim-trace";
  expect_json_error(j, "/format", "moesim-measurements");
  j = good;
  j.erase("version");
  expect_json_error(j, "(top level)", "missing field \"version\"");
  j = good;
  j["extra"] = 1;
  expect_json_error(j, "/extra", "unknown key");
  j = good;
  j["meta"]["gpus"] = 0;
  expect_json_error(j, "/meta/gpus", "out of range");
  // Device rates outside what can be simulated (core/limits.hpp): accepted before, they fitted
  // efficiencies of 1e-303 that the simulator turned into overflowing times.
  j = good;
  j["device"]["copy_GBps"] = 1e-300;
  expect_json_error(j, "/device/copy_GBps", "out of range");
  j = good;
  j["device"]["matrix_bf16_TFLOPs"] = 1e300;
  expect_json_error(j, "/device/matrix_bf16_TFLOPs", "out of range");
  j = good;
  j["kernels"][2]["gate_kind"] = "softmax_topk";  // row 2 is a permute row: no gate kind there
  expect_json_error(j, "/kernels/2/gate_kind", "unknown key");
  j = good;
  j["kernels"][0]["gate_kind"] = "topk";
  expect_json_error(j, "/kernels/0/gate_kind", "unknown value \"topk\"");
  j = good;
  j["kernels"][0]["tokens"] = 1.5;
  expect_json_error(j, "/kernels/0/tokens", "expected an integer");
  j = good;
  j["kernels"][0]["p10_us"] = 100.0;
  expect_json_error(j, "/kernels/0/p10_us", "exceeds median_us");
  j = good;
  auto& expert =
      *std::find_if(j["kernels"].begin(), j["kernels"].end(), [](const json& r) { return r["kernel"] == "expert"; });
  expert["tokens_per_expert"] = 3.0;
  const auto at = std::to_string(std::find_if(good["kernels"].begin(), good["kernels"].end(),
                                              [](const json& r) { return r["kernel"] == "expert"; }) -
                                 good["kernels"].begin());
  expect_json_error(j, "/kernels/" + at + "/tokens_per_expert", "is not tokens / experts");
  j = good;
  j["alltoall"][1]["busbw_GBps"] = 1000.0;
  expect_json_error(j, "/alltoall/1/busbw_GBps", "nccl-tests convention");
  j = good;
  j["layers"][0]["tokens_per_expert"][5] = -1;
  expect_json_error(j, "/layers/0/tokens_per_expert/5", "token count");
  j = good;
  j["kernels"] = json::object();
  expect_json_error(j, "/kernels", "expected an array");

  // Text-level errors: duplicate keys, invalid JSON, a missing file.
  const auto dir = moesim::test::scratch_dir("fit-bad");
  for (const auto& [name, text, fragment] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"dup.json", R"({"format": "moesim-measurements", "version": 1, "version": 1})", "appears twice"},
           {"syntax.json", R"({"format": )", "invalid JSON"},
           {"huge.json", R"({"format": "moesim-measurements", "version": 1, "x": 1e999})", "invalid JSON"}}) {
    const std::string path = moesim::test::write_file(dir, name, text);
    INFO(name);
    try {
      moesim::fit::load_measurements(path);
      FAIL("loaded a broken file");
    } catch (const moesim::InputError& e) {
      CHECK(std::string(e.what()).rfind(path + ": ", 0) == 0);
      CHECK(std::string(e.what()).find(fragment) != std::string::npos);
    }
  }
  CHECK_THROWS_AS(moesim::fit::load_measurements((dir / "missing.json").string()), moesim::InputError);
}

TEST_CASE("pool-adjacent-violators gives the closest non-decreasing sequence", "[fit]") {
  using moesim::fit::monotone_non_decreasing;
  CHECK(monotone_non_decreasing({}).empty());
  CHECK(monotone_non_decreasing({7}) == std::vector<double>{7});
  CHECK(monotone_non_decreasing({1, 2, 2, 3}) == std::vector<double>{1, 2, 2, 3});
  CHECK(monotone_non_decreasing({3, 1}) == std::vector<double>{2, 2});
  CHECK(monotone_non_decreasing({1, 3, 2, 4}) == std::vector<double>{1, 2.5, 2.5, 4});
  CHECK(monotone_non_decreasing({5, 4, 3, 2, 1}) == std::vector<double>{3, 3, 3, 3, 3});
  // A later dip pulls an earlier pooled block down with it: {4, 2} -> 3, then {3, 3, 0} -> 2.
  CHECK(monotone_non_decreasing({1, 4, 2, 0, 6}) == std::vector<double>{1, 2, 2, 2, 6});
}

TEST_CASE("fitting the sample gives measured efficiencies, monotone tables and NVLink", "[fit]") {
  const Measurements m = moesim::fit::load_measurements(sample_path());
  const moesim::Profile base = h100_base();
  const auto r = moesim::fit::fit_profile(m, base, {"deepseek-v3", 450});
  const moesim::Profile& p = r.profile;
  std::string notes;
  for (const auto& n : r.notes) notes += n + "\n";
  INFO("notes:\n" << notes);

  // Device: the datasheet ceilings stay, the efficiencies are measured over them.
  CHECK(p.hbm_bandwidth.GBps() == 3350.0);
  CHECK(p.matrix_bf16_TFLOPs == 989.0);
  CHECK(p.hbm_efficiency == Approx(0.84));     // 2814 / 3350
  CHECK(p.matrix_efficiency == Approx(0.72));  // 712.08 / 989
  CHECK(p.matrix_fp8_efficiency == Approx(1345.72 / 1979.0));
  CHECK(base.grouped_fp8_efficiency == 0.62);
  CHECK(p.grouped_fp8_efficiency == base.grouped_fp8_efficiency);  // published, from the base
  CHECK(p.launch_ns == 2400.0);
  CHECK(p.device_provenance.source == "measured");
  CHECK(p.device_provenance.citation.find("copy 2814") != std::string::npos);

  // Kernel tables: deepseek-v3, all four, non-decreasing, median over the two skews.
  CHECK(p.kernels_model == "deepseek-v3");
  CHECK(p.kernels_weight_bytes == 2.0);  // the 3 bf16 rows; the 16 fp8 rows have their own tables
  CHECK(p.kernels_provenance.source == "measured");
  for (const char* name : {"gate_us", "permute_us", "combine_us", "expert_us", "expert_fp8_us"}) {
    INFO(name);
    REQUIRE(p.kernels_us.count(name));
    CHECK(non_decreasing(p.kernels_us.at(name).y));
  }
  const moesim::LogTable& gate = p.kernels_us.at("gate_us");
  CHECK(gate.x.size() == 13);
  CHECK(gate.x.front() == 1.0);
  CHECK(gate.x.back() == 4096.0);
  CHECK(gate.y.front() == Approx((7.505 + 7.58) / 2));  // sigmoid_group_topk, not softmax_topk
  CHECK(has_note(r.notes, "fitted sigmoid_group_topk"));
  // The permute dip at 256 tokens is pooled with 128: mean of the medians 4.993 and 4.65.
  const moesim::LogTable& permute = p.kernels_us.at("permute_us");
  CHECK(permute.at(128) == Approx(4.8215));
  CHECK(permute.at(256) == Approx(4.8215));
  CHECK(has_note(r.notes, "permute: 2 of 13 points pooled"));
  CHECK(p.kernels_us.at("combine_us").x.back() == 32768.0);  // token copies = 4096 tokens x top-8
  // Expert: x = tokens per expert, y = grouped-GEMM median / experts, from the even-load (skew 0)
  // rows only; fp8 1 token: 508.8 us / 32 experts; bf16 1 token: 995.36 us / 32.
  const moesim::LogTable& expert = p.kernels_us.at("expert_fp8_us");
  CHECK(expert.x == std::vector<double>{1, 2, 4, 8, 16, 32, 64, 128});
  CHECK(expert.y.front() == Approx(508.8 / 32));
  CHECK(has_note(r.notes, "at skew 0 only"));
  CHECK(p.kernels_us.at("expert_us").x == std::vector<double>{1, 16, 128});
  CHECK(p.kernels_us.at("expert_us").y.front() == Approx(995.36 / 32));
  CHECK(p.kernels_provenance.citation.find("expert_fp8_*: e4m3 experts") != std::string::npos);

  // NVLink: busbw / 450 by bytes per peer (512 MiB per rank / 8 GPUs = 64 MiB per peer).
  const moesim::CommParams& nv = p.comm.at("nvlink");
  CHECK(nv.efficiency.at(67108864.0) == Approx(368.5279 / 450));
  CHECK(nv.efficiency.x.front() == 1024.0);
  CHECK(non_decreasing(nv.efficiency.y));
  CHECK(nv.latency_ns == Approx(22019.0));
  CHECK(nv.provenance.source == "measured");
  CHECK(p.comm.at("scaleout") == base.comm.at("scaleout"));  // kept, with its published source

  // Meta from the measurements.
  CHECK(p.meta.source == "measured");
  CHECK(p.meta.device == m.meta.device);
  CHECK(p.meta.driver == "550.54.15");
  CHECK(p.meta.cuda == "12.4");
  CHECK(p.meta.nccl == "2.21.5");
  CHECK(p.meta.date == "2025-01-15");
  CHECK(p.meta.command == m.meta.command);
  CHECK(p.meta.notes.find("Synthetic") != std::string::npos);

  // The fitted profile written as TOML loads back identically.
  const auto dir = moesim::test::scratch_dir("fit-profile");
  const std::string path = moesim::test::write_file(dir, "h100.toml", moesim::io::profile_to_toml(p));
  CHECK(moesim::io::load_profile(path) == p);
}

TEST_CASE("the compute model uses fitted tables for their model only", "[fit][compute_model]") {
  const Measurements m = moesim::fit::load_measurements(sample_path());
  const moesim::Profile p = moesim::fit::fit_profile(m, h100_base(), {"", 450}).profile;
  const moesim::ModelSpec ds = *moesim::io::find_model_preset("deepseek-v3");
  const moesim::ComputeModel cm(p, ds);
  for (Phase phase : {Phase::gate, Phase::combine}) CHECK(cm.source(phase) == "measured");
  CHECK(cm.source(Phase::experts) == "measured (fp8)");  // deepseek-v3's experts are fp8
  std::vector<int> load(32, 0);
  load[0] = 1;
  CHECK(cm.experts_ps(load) == moesim::ps_from_us(p.kernels_us.at("expert_fp8_us").at(1)));
  CHECK(cm.combine_ps(32768) == moesim::ps_from_us(p.kernels_us.at("combine_us").y.back()));

  const moesim::ModelSpec qwen = *moesim::io::find_model_preset("qwen3-30b-a3b");
  const moesim::ComputeModel other(p, qwen);
  CHECK(other.source(Phase::experts) == "roofline (profile tables are for deepseek-v3)");
  CHECK(other.source(Phase::gate) == "roofline (profile tables are for deepseek-v3)");
}

TEST_CASE("expert rows at fewer experts per call give per-call curves, the fixed cost is the intercept", "[fit]") {
  // time = 12 + E x g(n): g = 3 us up to 4 tokens, then 0.5 us per token, at any expert count E.
  Measurements m;
  m.meta.device = "test GPU";
  auto expert = [&](int experts, double n) {
    moesim::fit::KernelMeasurement k;
    k.kernel = "expert";
    k.model = "qwen3-30b-a3b";
    k.experts = experts;
    k.tokens_per_expert = n;
    k.tokens = static_cast<std::int64_t>(experts * n);
    k.weight_bytes = 2;
    k.median_us = k.p10_us = k.p90_us = 12 + experts * std::max(3.0, 0.5 * n + 1);
    k.repeats = 5;
    m.kernels.push_back(k);
  };
  for (double n : {1.0, 2.0, 16.0, 64.0}) expert(128, n);  // all of qwen3's experts
  for (double n : {1.0, 4.0, 16.0, 256.0}) expert(8, n);
  for (double n : {1.0, 64.0}) expert(32, n);  // two loads only: no curve
  expert(16, 1.0);
  const auto r = moesim::fit::fit_profile(m, h100_base(), {"qwen3-30b-a3b", 0});
  const moesim::Profile& p = r.profile;
  CHECK(p.kernels_expert_fixed_us == Approx(12));
  REQUIRE(p.kernels_us.count("expert_us"));
  REQUIRE(p.kernels_us.count("expert_e8_us"));
  CHECK_FALSE(p.kernels_us.count("expert_e32_us"));
  CHECK_FALSE(p.kernels_us.count("expert_e16_us"));
  CHECK(p.kernels_us.at("expert_e8_us").x == std::vector<double>{1, 4, 16, 256});
  CHECK(p.kernels_us.at("expert_e8_us").at(256) == Approx(129));
  CHECK(p.kernels_us.at("expert_us").at(64) == Approx(33));
  CHECK(has_note(r.notes, "3 rows at expert counts with fewer than 3 loads left out"));
  CHECK_NOTHROW(p.validate("fitted"));
}

TEST_CASE("fit options and partial measurements", "[fit]") {
  const Measurements sample = moesim::fit::load_measurements(sample_path());
  const moesim::Profile base = h100_base();

  SECTION("a model with no rows is an error") {
    CHECK_THROWS_WITH(moesim::fit::fit_profile(sample, base, {"qwen3-30b-a3b", 0}),
                      Catch::Contains("no kernel measurements for model \"qwen3-30b-a3b\""));
  }
  SECTION("without the NVLink bandwidth comm.nvlink stays the base's") {
    const auto r = moesim::fit::fit_profile(sample, base, {});
    CHECK(r.profile.comm.at("nvlink") == base.comm.at("nvlink"));
    CHECK(has_note(r.notes, "--nvlink-GBps"));
  }
  SECTION("a measured rate above the base ceiling is clamped, with a note") {
    Measurements m;
    m.meta.device = "fast GPU";
    m.device = moesim::fit::DeviceMeasurement{};
    m.device->copy_GBps = 4000;  // above the base's 3350
    const auto r = moesim::fit::fit_profile(m, base, {});
    CHECK(r.profile.hbm_efficiency == 1.0);
    CHECK(r.profile.matrix_efficiency == base.matrix_efficiency);  // not measured: kept
    CHECK(has_note(r.notes, "clamped to 1"));
    CHECK(r.profile.kernels_us.empty());
    CHECK(r.profile.meta.source == "measured");
  }
  SECTION("nothing measured: the base profile") {
    Measurements m;
    m.meta.device = "idle GPU";
    const auto r = moesim::fit::fit_profile(m, base, {});
    CHECK(r.profile == base);
    CHECK(has_note(r.notes, "nothing measured"));
  }
  SECTION("merging runs appends rows and fills unmeasured ceilings") {
    Measurements a;
    a.meta.device = "GPU";
    a.device = moesim::fit::DeviceMeasurement{};
    a.device->launch_ns = 2000;
    Measurements b = sample;
    moesim::fit::merge_measurements(a, b);
    CHECK(a.meta.device == "GPU");
    CHECK(a.device->launch_ns == 2000);
    CHECK(a.device->copy_GBps == 2814.0);
    CHECK(a.kernels.size() == sample.kernels.size());
    CHECK(a.alltoall.size() == sample.alltoall.size());
  }
  SECTION("merging keeps every run's command line once, and the first NCCL version") {
    Measurements a;
    a.meta.device = "GPU";
    a.meta.command = "moesim-calibrate device --out d.json";
    Measurements b;
    b.meta.command = "moesim-calibrate kernels --model deepseek-v3 --out k.json";
    b.meta.nccl = "2.28.3";
    moesim::fit::merge_measurements(a, b);
    moesim::fit::merge_measurements(a, b);  // the same run twice: listed once
    CHECK(a.meta.command ==
          "moesim-calibrate device --out d.json; moesim-calibrate kernels --model deepseek-v3 --out k.json");
    CHECK(a.meta.nccl == "2.28.3");
  }
}

TEST_CASE("attention rows give decode curves by batch and a prefill table by pairs", "[fit]") {
  Measurements m;
  m.meta.device = "test GPU";
  auto row = [&](const char* phase, int batch, int queries, int context, double us) {
    moesim::fit::AttentionMeasurement a;
    a.model = "qwen3-30b-a3b";
    a.phase = phase;
    a.form = "gqa";
    a.batch = batch;
    a.queries = queries;
    a.context = context;
    a.median_us = us;
    a.p10_us = 0.98 * us;
    a.p90_us = 1.02 * us;
    a.repeats = 5;
    m.attention.push_back(a);
  };
  for (int b : {1, 16}) {
    row("decode", b, 1, 512, 10.0 * b);
    row("decode", b, 1, 8192, 40.0 * b);
  }
  row("decode", 4, 1, 512, 20);  // one context: no curve
  row("decode", 4, 2, 512, 21);  // draft tokens: not in the tables
  row("prefill", 1, 128, 0, 30);
  row("prefill", 1, 1024, 0, 80);
  row("prefill", 1, 1024, 8192, 70);  // slower per pair than the smaller chunk: pooled
  // The JSON form keeps every field.
  const Measurements back = moesim::fit::measurements_from_json(moesim::fit::measurements_to_json(m), "m.json");
  CHECK(back == m);
  CHECK(m.attention[6].visible_pairs() == 128.0 * 129 / 2);
  CHECK(m.attention[8].visible_pairs() == 1024.0 * 8192 + 1024.0 * 1025 / 2);

  const auto r = moesim::fit::fit_profile(m, h100_base(), {"qwen3-30b-a3b", 0});
  const moesim::Profile& p = r.profile;
  REQUIRE(p.kernels_us.count("attn_decode_b1_us"));
  REQUIRE(p.kernels_us.count("attn_decode_b16_us"));
  CHECK_FALSE(p.kernels_us.count("attn_decode_b4_us"));
  CHECK(p.kernels_us.at("attn_decode_b16_us").x == std::vector<double>{512, 8192});
  CHECK(p.kernels_us.at("attn_decode_b16_us").y == std::vector<double>{160, 640});
  const moesim::LogTable& prefill = p.kernels_us.at("attn_prefill_us");
  CHECK(prefill.x == std::vector<double>{128.0 * 129 / 2, 1024.0 * 1025 / 2, 1024.0 * 8192 + 1024.0 * 1025 / 2});
  CHECK(prefill.y == std::vector<double>{30, 75, 75});
  CHECK(p.kernels_cv.at("attention") == Approx(0.04 / 2.563));
  CHECK(has_note(r.notes, "decode batch 4 left out"));
  CHECK(has_note(r.notes, "1 decode rows with several queries"));
  CHECK(p.kernels_provenance.citation.find("moesim's own kernels") != std::string::npos);
  CHECK_NOTHROW(p.validate("fitted"));
  const auto dir = moesim::test::scratch_dir("fit-attention");
  CHECK(moesim::io::load_profile(moesim::test::write_file(dir, "p.toml", moesim::io::profile_to_toml(p))) == p);

  // Bad rows name the file and the pointer.
  nlohmann::json j = moesim::fit::measurements_to_json(m);
  j["attention"][2]["phase"] = "train";
  CHECK_THROWS_WITH(moesim::fit::measurements_from_json(j, "m.json"), Catch::Contains("/attention/2/phase"));
  j = moesim::fit::measurements_to_json(m);
  j["attention"][0]["queries"] = 64;
  CHECK_THROWS_WITH(moesim::fit::measurements_from_json(j, "m.json"), Catch::Contains("at most 16"));
}
