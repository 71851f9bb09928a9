// Profile tables, the shipped profiles, the TOML writer/reader round trip and broken profiles.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/error.hpp"
#include "gpu/profile.hpp"
#include "io/profile_io.hpp"
#include "io/toml_reader.hpp"
#include "test_util.hpp"

using moesim::LogTable;
using moesim::Profile;

TEST_CASE("LogTable interpolates linearly in log(x) and clamps", "[profile]") {
  const LogTable t{{1.0, 100.0}, {0.0, 10.0}};
  // log(10) is halfway between log(1) and log(100): 0 + 0.5 * (10 - 0) = 5.
  CHECK(t.at(10.0) == Approx(5.0).epsilon(1e-12));
  // log(sqrt(10)) is a quarter of the way: 2.5.
  CHECK(t.at(std::sqrt(10.0)) == Approx(2.5).epsilon(1e-12));
  CHECK(t.at(1.0) == 0.0);
  CHECK(t.at(100.0) == 10.0);
  CHECK(t.at(0.5) == 0.0);   // clamped below
  CHECK(t.at(0.0) == 0.0);   // log undefined: clamped, not NaN
  CHECK(t.at(1e9) == 10.0);  // clamped above

  const LogTable three{{1.0, 10.0, 1000.0}, {2.0, 4.0, 8.0}};
  // 100 lies in [10, 1000]: t = (ln 100 - ln 10) / (ln 1000 - ln 10) = 1 / 2, y = 4 + 0.5 * 4 = 6.
  CHECK(three.at(100.0) == Approx(6.0).epsilon(1e-12));
  CHECK(three.at(10.0) == Approx(4.0).epsilon(1e-12));

  const LogTable one{{64.0}, {7.0}};
  CHECK(one.at(1.0) == 7.0);  // a single point is a constant
  CHECK(one.at(1e6) == 7.0);

  CHECK_THROWS_AS(LogTable{}.at(1.0), moesim::Error);
}

TEST_CASE("LogTable::check names what is wrong", "[profile]") {
  CHECK(LogTable{{1.0, 2.0}, {0.5, 0.6}}.check(0, 1).empty());
  CHECK(LogTable{{2.0, 2.0}, {0.5, 0.6}}.check(0, 1).find("strictly increasing") != std::string::npos);
  CHECK(LogTable{{1.0, 2.0}, {0.5}}.check(0, 1).find("lengths must match") != std::string::npos);
  CHECK(LogTable{{0.0, 2.0}, {0.5, 0.6}}.check(0, 1).find("> 0") != std::string::npos);
  CHECK(LogTable{{1.0, 2.0}, {0.5, 1.5}}.check(0, 1).find("y[1]") != std::string::npos);
  CHECK(LogTable{}.check(0, 1) == "is empty");
}

TEST_CASE("shipped profiles load and validate", "[profile]") {
  // The measured H100 profile: fitted over the datasheet one, its kernel tables for deepseek-v3.
  const Profile measured = moesim::io::load_profile(moesim::test::source_path("calibrate/profiles/h100-sxm.toml"));
  CHECK(measured.meta.source == "measured");
  CHECK(!measured.meta.driver.empty());
  CHECK(!measured.meta.command.empty());
  CHECK(measured.device_provenance.source == "measured");
  CHECK(measured.kernels_provenance.source == "measured");
  CHECK(measured.kernels_model == "deepseek-v3");
  CHECK(measured.kernels_weight_bytes == 2.0);
  CHECK(measured.kernels_expert_fixed_us > 0);
  CHECK(measured.kernels_us.size() == 8);  // gate, permute, combine, expert and 4 per-call curves
  for (const char* curve : {"expert_e8_us", "expert_e16_us", "expert_e32_us", "expert_e64_us"})
    CHECK(measured.kernels_us.count(curve) == 1);
  CHECK(measured.hbm_efficiency > 0.8);  // a copy reaches ~3.0 of 3.35 TB/s on an H100 SXM
  CHECK(measured.comm.at("nvlink").provenance.source == "published");  // one GPU: no all-to-all
  CHECK_NOTHROW(measured.validate("h100 measured"));
  const Profile qwen =
      moesim::io::load_profile(moesim::test::source_path("calibrate/profiles/h100-sxm.qwen3-30b-a3b.toml"));
  CHECK(qwen.kernels_model == "qwen3-30b-a3b");
  CHECK(qwen.meta.source == "measured");

  const Profile h100 =
      moesim::io::load_profile(moesim::test::source_path("calibrate/profiles/h100-sxm-datasheet.toml"));
  CHECK(h100.meta.source == "derived");
  CHECK(h100.hbm_bandwidth.GBps() == 3350.0);
  CHECK(h100.matrix_bf16_TFLOPs == 989.0);
  CHECK(h100.matrix_fp8_TFLOPs == 1979.0);
  CHECK(h100.memory_GB == 80.0);
  CHECK(h100.comm.at("nvlink").efficiency.at(1073741824.0) == 0.83);
  CHECK(h100.comm.at("scaleout").efficiency.at(1e12) == 0.94);  // clamped beyond the last point
  CHECK(h100.kernels_us.empty());
  CHECK(h100.kernels_model.empty());
  CHECK_NOTHROW(h100.validate("h100"));
  // Per-section provenance: derived device efficiencies, published communication levels.
  CHECK(h100.device_provenance.source == "derived");
  CHECK(h100.comm.at("nvlink").provenance.source == "published");
  CHECK(h100.comm.at("nvlink").provenance.citation.find("375") != std::string::npos);
  CHECK(h100.comm.at("scaleout").provenance.source == "published");
  CHECK(h100.comm.at("scaleout").provenance.citation.find("ConnectX-7") != std::string::npos);

  const Profile gb200 = moesim::io::load_profile(moesim::test::source_path("calibrate/profiles/gb200.toml"));
  CHECK(gb200.hbm_bandwidth.GBps() == 8000.0);
  CHECK(gb200.matrix_bf16_TFLOPs == 2500.0);
  CHECK(gb200.matrix_fp8_TFLOPs == 5000.0);
  CHECK(gb200.matrix_fp4_TFLOPs == 10000.0);
  CHECK(gb200.grouped_fp8() == 0.62);
  CHECK(gb200.memory_GB == 186.0);
  for (const auto& [cls, c] : gb200.comm) {
    INFO(cls);
    CHECK(!c.provenance.source.empty());
    CHECK(!c.provenance.citation.empty());
  }
  CHECK(gb200.device_provenance.source == "derived");
}

TEST_CASE("a written profile loads back identically", "[profile]") {
  SECTION("the shipped profile") {
    const Profile p = moesim::io::load_profile(moesim::test::source_path("calibrate/profiles/h100-sxm.toml"));
    const std::string text = moesim::io::profile_to_toml(p);
    const Profile q = moesim::io::load_profile_table(moesim::io::parse_toml_text(text, "written"), "written");
    CHECK(q == p);
  }
  SECTION("awkward strings and doubles, kernel tables") {
    Profile p;
    p.meta = {"GPU \"X\"",
              "measured",
              "550.1",
              "12.4",
              "2.21.5",
              "2025-03-01",
              "moesim-calibrate --out a\\b",
              "line one\nline two\ttab"};
    p.hbm_bandwidth = moesim::Bandwidth::from_GBps(1.0 / 3.0);
    p.hbm_efficiency = 0.1;
    p.matrix_bf16_TFLOPs = 1234567.8901234568;
    p.matrix_fp8_TFLOPs = 0;
    p.matrix_efficiency = 1;
    p.launch_ns = 1e-7;
    p.gemm_tile_m = 64;
    p.memory_GB = 141;
    p.device_provenance = {"measured", "copy 2814 GB/s of 3350; \"quoted\"\nnext line"};
    p.comm["nvlink"] = {2500, LogTable{{1024, 1 << 20}, {0.05, 0.83}}, {"published", "NCCL: ~375 of 450 GB/s"}};
    // 1.2e20 would overflow a TOML integer if written bare.
    p.comm["scaleout"] = {6000.5, LogTable{{1.2345678901234568e20}, {0.9}}, {}};  // no provenance: none written
    p.comm["scaleout"].provenance.citation = "citation without a source";
    p.kernels_model = "deepseek-v3";
    p.kernels_weight_bytes = 4.25 / 8;
    p.kernels_provenance = {"derived", ""};
    p.kernels_us["gate_us"] = LogTable{{1, 128, 4096}, {9.5, 11.25, 40}};
    p.kernels_us["combine_us"] = LogTable{{8}, {0.0}};
    p.kernels_us["expert_us"] = LogTable{{1, 2, 4}, {15.9, 15.95, 16.0}};
    p.kernels_expert_fixed_us = 33.75;
    p.kernels_us["expert_e16_us"] = LogTable{{1, 64}, {20.5, 30.25}};
    p.kernels_us["expert_fp8_us"] = LogTable{{1, 2}, {9.5, 9.75}};
    p.kernels_us["expert_fp8_e8_us"] = LogTable{{1, 64}, {12.5, 20.25}};
    p.kernels_expert_fp8_fixed_us = 21.5;
    p.kernels_us["attn_decode_b16_us"] = LogTable{{512, 32768}, {14.5, 260.25}};
    p.kernels_us["attn_prefill_us"] = LogTable{{8256, 6.7e7}, {30.5, 4100}};
    p.kernels_cv["attention"] = 0.02;
    REQUIRE_NOTHROW(p.validate("hand-made"));
    const auto dir = moesim::test::scratch_dir("profile-roundtrip");
    const std::string path = moesim::test::write_file(dir, "p.toml", moesim::io::profile_to_toml(p));
    const Profile q = moesim::io::load_profile(path);
    CHECK(q == p);
  }
}

namespace {

// Line numbers below refer to this text (line 1 is "[meta]").
const char* kGoodProfile = R"([meta]
device = "Test GPU"
source = "derived"

[device]
hbm_GBps = 1000.0
hbm_efficiency = 0.5
matrix_bf16_TFLOPs = 100.0
matrix_fp8_TFLOPs = 200.0
matrix_efficiency = 0.5
launch_ns = 1000.0
gemm_tile_m = 128
memory_GB = 80.0

[comm.nvlink]
latency_ns = 2000.0
efficiency_bytes = [1000.0, 1000000.0]
efficiency = [0.1, 0.8]

[comm.scaleout]
latency_ns = 5000.0
efficiency_bytes = [1000.0, 1000000.0]
efficiency = [0.2, 0.9]

[kernels]
model = "tiny"
gate_tokens = [1.0, 100.0]
gate_us = [10.0, 20.0]
)";

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// Loads `text` from a file and expects an InputError at `line` mentioning `fragment`.
void expect_error(const std::string& name, const std::string& text, int line, const std::string& fragment) {
  const auto dir = moesim::test::scratch_dir("profile-broken");
  const std::string path = moesim::test::write_file(dir, name + ".toml", text);
  INFO(name);
  try {
    moesim::io::load_profile(path);
    FAIL("loaded a broken profile");
  } catch (const moesim::InputError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.rfind(path + ":" + std::to_string(line) + ":", 0) == 0);
    CHECK(msg.find(fragment) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("the test profile itself is good", "[profile]") {
  const auto dir = moesim::test::scratch_dir("profile-good");
  const Profile p = moesim::io::load_profile(moesim::test::write_file(dir, "good.toml", kGoodProfile));
  CHECK(p.kernels_us.at("gate_us").at(10.0) == Approx(15.0));
  CHECK(p.kernels_model == "tiny");
  CHECK(p.kernels_weight_bytes == 0);
  CHECK(p.device_provenance == moesim::Provenance{});
}

TEST_CASE("validate checks provenance and the kernel tables' model", "[profile]") {
  const auto dir = moesim::test::scratch_dir("profile-validate");
  const Profile good = moesim::io::load_profile(moesim::test::write_file(dir, "good.toml", kGoodProfile));
  Profile p = good;
  p.comm["scaleout"].provenance.source = "guessed";
  CHECK_THROWS_WITH(p.validate("x"), Catch::Contains("comm.scaleout.source"));
  p = good;
  p.kernels_model.clear();
  CHECK_THROWS_WITH(p.validate("x"), Catch::Contains("kernels.model"));
  p = good;
  p.kernels_us["expert_us"] = LogTable{{1.0}, {5.0}};
  CHECK_THROWS_WITH(p.validate("x"), Catch::Contains("kernels.weight_bytes"));
  p.kernels_weight_bytes = 1;
  CHECK_NOTHROW(p.validate("x"));
  p.kernels_expert_fixed_us = -1;
  CHECK_THROWS_WITH(p.validate("x"), Catch::Contains("kernels.expert_fixed_us"));
  p.kernels_expert_fixed_us = 30;
  CHECK_NOTHROW(p.validate("x"));
  p.kernels_us.erase("expert_us");
  CHECK_THROWS_WITH(p.validate("x"), Catch::Contains("needs the expert_us table"));
  p.kernels_expert_fixed_us = 0;
  p.kernels_us["expert_e8_us"] = LogTable{{1.0}, {5.0}};
  CHECK_THROWS_WITH(p.validate("x"), Catch::Contains("kernels.expert_e8_us needs the expert_us table"));
  CHECK(moesim::expert_calls_of("expert_e8_us") == 8);
  CHECK(moesim::expert_calls_of("expert_e08_us") == 0);
  CHECK(moesim::expert_calls_of("expert_e_us") == 0);
  CHECK(moesim::expert_calls_of("expert_e8x_us") == 0);
  CHECK(moesim::expert_calls_of("expert_us") == 0);
  CHECK(moesim::expert_calls_of("expert_e99999999_us") == 0);
  CHECK(moesim::expert_calls_of("expert_fp8_e8_us") == 0);
  CHECK(moesim::expert_fp8_calls_of("expert_fp8_e8_us") == 8);
  CHECK(moesim::expert_fp8_calls_of("expert_e8_us") == 0);
  CHECK(moesim::attention_decode_batch_of("attn_decode_b64_us") == 64);
  CHECK(moesim::attention_decode_batch_of("attn_decode_b_us") == 0);
  CHECK(moesim::kernel_table_axis("attn_decode_b64_us") == "context");
  CHECK(moesim::kernel_table_axis("attn_prefill_us") == "pairs");
  CHECK(moesim::kernel_table_axis("expert_fp8_e8_us") == "tokens");
  p = good;
  p.kernels_us["expert_fp8_e8_us"] = LogTable{{1.0}, {5.0}};
  CHECK_THROWS_WITH(p.validate("x"), Catch::Contains("needs the expert_fp8_us table"));
  p.kernels_us["expert_fp8_us"] = LogTable{{1.0}, {5.0}};
  CHECK_NOTHROW(p.validate("x"));
}

TEST_CASE("broken profiles fail with file and line", "[profile]") {
  const std::string good = kGoodProfile;
  expect_error("unknown-key", replaced(good, "memory_GB = 80.0\n", "memory_GB = 80.0\nhbm_bandwith_GBps = 1.0\n"), 14,
               "unknown key \"device.hbm_bandwith_GBps\"");
  expect_error("missing-source", replaced(good, "source = \"derived\"\n", ""), 1, "meta.source: required key");
  expect_error("bad-source", replaced(good, "source = \"derived\"", "source = \"guessed\""), 3,
               "unknown value \"guessed\"");
  expect_error("hbm-efficiency-above-1", replaced(good, "hbm_efficiency = 0.5", "hbm_efficiency = 1.5"), 7,
               "device.hbm_efficiency");
  expect_error("comm-efficiency-above-1", replaced(good, "efficiency = [0.1, 0.8]", "efficiency = [0.1, 1.2]"), 18,
               "comm.nvlink.efficiency");
  expect_error("non-increasing",
               replaced(good, "efficiency_bytes = [1000.0, 1000000.0]\nefficiency = [0.1",
                        "efficiency_bytes = [1000.0, 1000.0]\nefficiency = [0.1"),
               17, "strictly increasing");
  expect_error("mismatched-lengths", replaced(good, "gate_us = [10.0, 20.0]", "gate_us = [10.0]"), 28,
               "lengths must match");
  expect_error("unknown-kernel", replaced(good, "gate_tokens", "gaet_tokens"), 27, "unknown kernel \"gaet\"");
  expect_error("unknown-comm-class", good + "\n[comm.infiniband]\nlatency_ns = 1.0\n", 30,
               "unknown key \"comm.infiniband\"");
  // Provenance and the [kernels] header keys.
  expect_error("bad-section-source", replaced(good, "[comm.nvlink]\n", "[comm.nvlink]\nsource = \"guess\"\n"), 16,
               "unknown value \"guess\"");
  expect_error("citation-not-a-string", replaced(good, "memory_GB = 80.0\n", "memory_GB = 80.0\ncitation = 3\n"), 14,
               "device.citation");
  expect_error("tables-without-model", replaced(good, "model = \"tiny\"\n", ""), 26, "kernels.model");
  expect_error("empty-model", replaced(good, "model = \"tiny\"", "model = \"\""), 26, "must name the model");
  expect_error(
      "expert-without-weight-bytes",
      replaced(good, "gate_us = [10.0, 20.0]\n", "gate_us = [10.0, 20.0]\nexpert_tokens = [1.0]\nexpert_us = [5.0]\n"),
      29, "kernels.weight_bytes");
  expect_error("weight-bytes-range", replaced(good, "model = \"tiny\"\n", "model = \"tiny\"\nweight_bytes = 9.0\n"), 27,
               "kernels.weight_bytes");
  expect_error("fixed-cost-without-expert-table",
               replaced(good, "model = \"tiny\"\n", "model = \"tiny\"\nexpert_fixed_us = 30.0\n"), 27,
               "belongs to the expert table");
  expect_error("fixed-cost-negative",
               replaced(good, "gate_us = [10.0, 20.0]\n",
                        "gate_us = [10.0, 20.0]\nweight_bytes = 2.0\nexpert_fixed_us = -1.0\nexpert_tokens = [1.0]\n"
                        "expert_us = [5.0]\n"),
               30, "kernels.expert_fixed_us");
  expect_error("curve-without-expert-table",
               replaced(good, "gate_us = [10.0, 20.0]\n",
                        "gate_us = [10.0, 20.0]\nweight_bytes = 2.0\nexpert_e8_tokens = [1.0]\nexpert_e8_us = [5.0]\n"),
               31, "needs expert_tokens and expert_us");
  expect_error("bad-curve-name", replaced(good, "gate_tokens", "expert_e0_tokens"), 27, "expert_e<N>");
  // Attention tables have their own x axes; fp8 expert tables their own fixed cost.
  expect_error("attention-axis",
               replaced(good, "gate_us = [10.0, 20.0]\n",
                        "gate_us = [10.0, 20.0]\nattn_prefill_tokens = [1.0]\nattn_prefill_us = [5.0]\n"),
               29, "the x axis of attn_prefill_us is attn_prefill_pairs");
  expect_error("decode-axis",
               replaced(good, "gate_us = [10.0, 20.0]\n",
                        "gate_us = [10.0, 20.0]\nattn_decode_b8_tokens = [1.0]\nattn_decode_b8_us = [5.0]\n"),
               29, "attn_decode_b8_context");
  expect_error("fp8-fixed-without-table",
               replaced(good, "model = \"tiny\"\n", "model = \"tiny\"\nexpert_fp8_fixed_us = 30.0\n"), 27,
               "belongs to the fp8 expert table");
  expect_error("fp8-curve-without-table",
               replaced(good, "gate_us = [10.0, 20.0]\n",
                        "gate_us = [10.0, 20.0]\nexpert_fp8_e8_tokens = [1.0]\nexpert_fp8_e8_us = [5.0]\n"),
               30, "needs expert_fp8_tokens and expert_fp8_us");
  expect_error("malformed", replaced(good, "hbm_GBps = 1000.0", "hbm_GBps = = 1000.0"), 6, "");
}

TEST_CASE("ep_kernel sections load, default and round-trip", "[profile]") {
  const std::string text = std::string(kGoodProfile) +
                           "\n[ep_kernel.x]\nsource = \"published\"\ncitation = \"a paper\"\n"
                           "mode = \"hierarchical\"\ndispatch_fixed_us = 25.5\ncombine_fixed_us = 20.25\n"
                           "per_peer_ns = 300.0\nmessage_scaleout_ns = 12.5\nefficiency_nvlink = 0.69\n"
                           "sms = 24\nsm_GBps = 40.0\n"
                           "\n[ep_kernel.plain]\nmode = \"nccl\"\n";
  const auto dir = moesim::test::scratch_dir("profile-ep-kernel");
  const Profile p = moesim::io::load_profile(moesim::test::write_file(dir, "ep.toml", text));
  REQUIRE(p.ep_kernels.size() == 2);
  const moesim::EpKernelParams& x = p.ep_kernels.at("x");
  CHECK(x.mode == moesim::EpMode::hierarchical);
  CHECK(x.dispatch_fixed_us == 25.5);
  CHECK(x.combine_fixed_us == 20.25);
  CHECK(x.dispatch_fixed_scaleout_us == 25.5);  // absent: the single-domain cost
  CHECK(x.combine_fixed_scaleout_us == 20.25);
  CHECK(x.per_peer_ns == 300.0);
  CHECK(x.message_nvlink_ns == 0.0);
  CHECK(x.message_scaleout_ns == 12.5);
  CHECK(x.efficiency_nvlink == 0.69);
  CHECK(x.efficiency_scaleout == 1.0);
  CHECK(x.sms == 24);
  CHECK(x.sm_GBps == 40.0);
  CHECK(x.provenance == moesim::Provenance{"published", "a paper"});
  CHECK(p.ep_kernels.at("plain") == moesim::EpKernelParams{});
  CHECK(p.ep_kernel_names() == std::vector<std::string>{"nccl", "plain", "x"});
  CHECK(!p.ep_kernel("nope").has_value());

  Profile q = p;
  q.ep_kernels["x"].dispatch_fixed_scaleout_us = 1.0 / 3.0;
  q.ep_kernels["x"].efficiency_scaleout = 0.875;
  q.ep_kernels["x"].mode = moesim::EpMode::low_latency;
  q.ep_kernels["y"] = q.ep_kernels["x"];
  q.ep_kernels["y"].mode = moesim::EpMode::one_sided;
  q.ep_kernels["y"].provenance = {};
  const std::string written = moesim::io::profile_to_toml(q);
  const Profile back = moesim::io::load_profile_table(moesim::io::parse_toml_text(written, "written"), "written");
  CHECK(back.ep_kernels == q.ep_kernels);
  CHECK(back == q);
}

TEST_CASE("broken ep_kernel sections fail with file and line", "[profile]") {
  // kGoodProfile has 28 lines: the appended section's header is line 30, its first key line 31.
  const std::string head = std::string(kGoodProfile) + "\n[ep_kernel.x]\n";
  expect_error("ep-unknown-mode", head + "mode = \"warp\"\n", 31, "unknown value \"warp\"");
  expect_error("ep-nccl-efficiency", head + "mode = \"nccl\"\nefficiency_nvlink = 0.5\n", 32,
               "an nccl kernel takes its efficiency");
  expect_error("ep-sm-rate-without-sms", head + "mode = \"hierarchical\"\nsm_GBps = 10.0\n", 32,
               "needs the kernel's SM count");
  expect_error("ep-unknown-key", head + "mode = \"low_latency\"\nbogus_us = 1.0\n", 32,
               "unknown key \"ep_kernel.x.bogus_us\"");
  expect_error("ep-negative-fixed", head + "mode = \"low_latency\"\ndispatch_fixed_us = -1.0\n", 32,
               "ep_kernel.x.dispatch_fixed_us");
  expect_error("ep-zero-efficiency", head + "mode = \"one_sided\"\nefficiency_scaleout = 0.0\n", 32,
               "ep_kernel.x.efficiency_scaleout");
  expect_error("ep-missing-mode", head + "sms = 8\n", 30, "ep_kernel.x.mode");
}
