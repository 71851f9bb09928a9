// Scenario loading: the shipped scenarios load; every kind of broken scenario fails with an
// InputError naming the file and the line; --set overrides; the resolved copy loads back.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

const char* kGood = R"(name = "t"
[model]
preset = "mixtral-8x7b"
[hardware]
topology = "TOPO"
profile = "PROF"
[workload]
tokens_per_gpu = 16
steps = 2
)";

std::string good_text() {
  std::string s = kGood;
  s.replace(s.find("TOPO"), 4, test::source_path("topologies/hgx-h100.toml"));
  s.replace(s.find("PROF"), 4, test::source_path("calibrate/profiles/h100-sxm.toml"));
  return s;
}

// Loads `text` as a scenario file and returns the error message ("" when it loads).
std::string error_of(const std::string& text, const std::vector<std::string>& sets = {}) {
  const auto dir = test::scratch_dir("scenario");
  const std::string path = test::write_file(dir, "bad.toml", text);
  try {
    io::load_scenario(path, sets);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string with_line(std::string text, const std::string& after, const std::string& line) {
  text.insert(text.find(after) + after.size(), "\n" + line);
  return text;
}

}  // namespace

TEST_CASE("shipped scenarios load", "[scenario]") {
  for (const char* f : {"scenarios/default.toml", "scenarios/smoke.toml", "scenarios/hgx-prefill.toml",
                        "scenarios/two-racks.toml", "scenarios/qwen3-hgx-decode.toml"}) {
    INFO(f);
    const Scenario s = io::load_scenario(test::source_path(f));
    REQUIRE(s.workload.steps >= 1);
    REQUIRE(s.model.layers > 0);
  }
}

TEST_CASE("a good scenario loads with defaults filled in", "[scenario]") {
  REQUIRE(error_of(good_text()).empty());
  const auto dir = test::scratch_dir("scenario-good");
  const Scenario s = io::load_scenario(test::write_file(dir, "s.toml", good_text()));
  REQUIRE(s.model.routed_experts == 8);
  REQUIRE(s.model.top_k == 2);
  REQUIRE(s.workload.phase == WorkloadPhase::decode);
  REQUIRE(s.gate.kind == GateModel::uniform);
  REQUIRE(s.placement == PlacementKind::contiguous);
  REQUIRE(s.network_model == NetworkModelKind::flow);
}

TEST_CASE("broken scenarios name file, line and column", "[scenario]") {
  const std::string g = good_text();
  // Each case: the text and the "file:line" its error must contain.
  SECTION("unknown top-level key") {
    REQUIRE_THAT(error_of("colour = 1\n" + g), Catch::Contains("bad.toml:1:1") && Catch::Contains("unknown key"));
  }
  SECTION("misspelt key in a table") {
    REQUIRE_THAT(error_of(with_line(g, "[workload]", "stpes = 3")),
                 Catch::Contains("bad.toml:8:1") && Catch::Contains("workload.stpes"));
  }
  SECTION("wrong type") {
    std::string t = g;
    t.replace(t.find("tokens_per_gpu = 16"), 19, "tokens_per_gpu = \"16\"");
    REQUIRE_THAT(error_of(t), Catch::Contains("bad.toml:8") && Catch::Contains("expected an integer"));
  }
  SECTION("out-of-range value") {
    std::string t = g;
    t.replace(t.find("tokens_per_gpu = 16"), 19, "tokens_per_gpu = 0");
    REQUIRE_THAT(error_of(t), Catch::Contains("bad.toml:8") && Catch::Contains("out of range"));
  }
  SECTION("unknown choice") {
    REQUIRE_THAT(error_of(with_line(g, "[workload]", "phase = \"training\"")),
                 Catch::Contains("bad.toml:8") && Catch::Contains("decode, prefill"));
  }
  SECTION("unknown preset") {
    std::string t = g;
    t.replace(t.find("mixtral-8x7b"), 12, "mixtral-9x9b");
    REQUIRE_THAT(error_of(t), Catch::Contains("bad.toml:3") && Catch::Contains("unknown model preset"));
    // A name longer than a file name may be (fuzz_scenario found that the file check threw).
    t = g;
    t.replace(t.find("mixtral-8x7b"), 12, std::string(400, 'Q'));
    REQUIRE_THAT(error_of(t), Catch::Contains("bad.toml:3") && Catch::Contains("unknown model preset"));
  }
  SECTION("missing required table") {
    std::string t = g;
    t.erase(t.find("[workload]"));
    REQUIRE_THAT(error_of(t), Catch::Contains("workload") && Catch::Contains("missing"));
  }
  SECTION("explicit model missing a dimension") {
    std::string t = g;
    t.replace(t.find("preset = \"mixtral-8x7b\""), 23, "hidden = 64\nlayers = 2");
    REQUIRE_THAT(error_of(t), Catch::Contains("bad.toml:") && Catch::Contains("model.routed_experts"));
  }
  SECTION("top_k larger than experts") {
    REQUIRE_THAT(error_of(with_line(g, "preset = \"mixtral-8x7b\"", "top_k = 9")), Catch::Contains("top_k"));
  }
  SECTION("zipf exponent out of range") {
    REQUIRE_THAT(error_of(g + "[gate]\nkind = \"zipf\"\nzipf_exponent = 21\n"),
                 Catch::Contains("bad.toml:12") && Catch::Contains("gate.zipf_exponent"));
  }
  SECTION("malformed TOML") { REQUIRE_THAT(error_of(g + "[network\n"), Catch::Contains("bad.toml:10")); }
  SECTION("bad --set value names the override") {
    REQUIRE_THAT(error_of(g, {"workload.steps=-1"}),
                 Catch::Contains("--set workload.steps=-1") && Catch::Contains("out of range"));
    REQUIRE_THAT(error_of(g, {"workload.stepz=1"}),
                 Catch::Contains("unknown key") && Catch::Contains("workload.stepz"));
    REQUIRE_THAT(error_of(g, {"nonsense"}), Catch::Contains("expected key=value"));
  }
}

TEST_CASE("overrides with --set reach any key, bare words are strings", "[scenario]") {
  const auto dir = test::scratch_dir("scenario-set");
  const std::string path = test::write_file(dir, "s.toml", good_text());
  const Scenario s = io::load_scenario(path, {"workload.steps=5", "placement.kind=round_robin", "gate.kind=zipf",
                                              "gate.zipf_exponent=1.5", "network.model=\"analytic\""});
  REQUIRE(s.workload.steps == 5);
  REQUIRE(s.placement == PlacementKind::round_robin);
  REQUIRE(s.gate.zipf_exponent == 1.5);
  REQUIRE(s.network_model == NetworkModelKind::analytic);
}

TEST_CASE("the resolved scenario loads back to the same scenario", "[scenario]") {
  const Scenario a = io::load_scenario(test::source_path("scenarios/default.toml"));
  const auto dir = test::scratch_dir("scenario-resolved");
  const std::string path = test::write_file(dir, "resolved.toml", io::scenario_to_toml(a));
  const Scenario b = io::load_scenario(path);
  // The header comment differs (b has no preset name left to mention); the values must not.
  const std::string ta = io::scenario_to_toml(a), tb = io::scenario_to_toml(b);
  REQUIRE(tb.substr(tb.find('\n')) == ta.substr(ta.find('\n')));
  REQUIRE(b.model.expert_weight_bytes() == a.model.expert_weight_bytes());
  REQUIRE(b.model.decode_attn_flops_per_ctx() == a.model.decode_attn_flops_per_ctx());
}

TEST_CASE("names that would leave results/ or vanish in it are refused", "[scenario]") {
  for (const char* bad : {"../../x", "", ".hidden", "a/b", "a b"}) {
    INFO(bad);
    std::string text = good_text();
    text.replace(0, 10, fmt::format("name = \"{}\"", bad));  // the first line, name = "t"
    const std::string msg = error_of(text);
    REQUIRE(msg.find("bad.toml:") != std::string::npos);
    REQUIRE(msg.find("is not a usable name") != std::string::npos);
  }
  const std::string nul = error_of(good_text(), {"name=\"a\\u0000b\""});
  REQUIRE(nul.find("not a usable name") != std::string::npos);
  REQUIRE(error_of(good_text(), {"name=run-1.b_2"}).empty());
}

TEST_CASE("a --set value that spans lines is refused", "[scenario]") {
  REQUIRE(error_of(good_text(), {"workload.steps=3\nseed = 9"}).find("cannot span lines") != std::string::npos);
}

TEST_CASE("two faults on one GPU are an error at the second", "[scenario]") {
  const std::string text = good_text() +
                           "[[faults]]\nkind = \"gpu_down\"\ngpu = 3\n[[faults]]\nkind = \"slow_gpu\"\n"
                           "gpu = 3\ncompute_factor = 2\n";
  const std::string msg = error_of(text);
  INFO(msg);
  REQUIRE(msg.find("GPU 3 already has a fault") != std::string::npos);
}
