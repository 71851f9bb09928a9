// Trace replay: a trace generated from a synthetic gate and replayed reproduces the synthetic run
// exactly; mismatches between trace and scenario follow the documented rules and are reported.
#include <catch2/catch.hpp>

#include <cstring>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "moe/trace_gate.hpp"
#include "moe/trace_generate.hpp"
#include "test_util.hpp"
#include "trace_test_util.hpp"

using namespace moesim;

namespace {

Results run_smoke(const std::vector<std::string>& sets) {
  return run_scenario(io::load_scenario(test::source_path("scenarios/smoke.toml"), sets)).results;
}

// Writes the smoke scenario's own synthetic routing as a trace.
std::string smoke_trace(const std::string& name, int steps, int ranks, int tokens) {
  const Scenario s = io::load_scenario(test::source_path("scenarios/smoke.toml"));
  auto gate = make_synthetic_gate(s.gate, s.model.routed_experts, s.model.top_k, s.model.moe_layers(), s.seed);
  const std::string path = (test::scratch_dir(name) / "t.moetrace").string();
  generate_trace(*gate, TraceGenSpec{steps, s.model.moe_layers(), ranks, tokens}, path);
  return path;
}

}  // namespace

TEST_CASE("replaying a generated trace reproduces the synthetic run exactly", "[trace]") {
  // smoke.toml: 8 GPUs, 32 tokens per GPU, 3 steps.
  const std::string path = smoke_trace("replay-exact", 3, 8, 32);
  const Results synthetic = run_smoke({});
  const Results replayed = run_smoke({"gate.kind=trace", "gate.trace=\"" + path + "\""});
  REQUIRE(replayed.steps.size() == synthetic.steps.size());
  for (std::size_t i = 0; i < synthetic.steps.size(); ++i)
    REQUIRE(replayed.steps[i].end_ps == synthetic.steps[i].end_ps);
  for (std::size_t g = 0; g < synthetic.gpus.size(); ++g)
    REQUIRE(replayed.gpus[g].received == synthetic.gpus[g].received);
  // Steps, ranks and tokens all match: no mapping rule applied.
  REQUIRE(replayed.notes.empty());
}

TEST_CASE("trace and scenario mismatches follow the stated rules", "[trace]") {
  SECTION("fewer steps wrap around") {
    const std::string path = smoke_trace("replay-wrap", 1, 8, 32);
    const Results r = run_smoke({"gate.kind=trace", "gate.trace=\"" + path + "\""});
    // Steps 0, 1 and 2 all replay trace step 0: identical routing, identical step times.
    REQUIRE(r.steps[1].step_ps() == r.steps[0].step_ps());
    REQUIRE(r.steps[2].step_ps() == r.steps[0].step_ps());
    REQUIRE_THAT(r.notes.front(), Catch::Contains("wrap around"));
  }
  SECTION("fewer ranks than GPUs: GPU g replays rank g mod R") {
    const std::string path = smoke_trace("replay-ranks", 3, 2, 32);
    TraceGate gate(path, 3, 16, 2, 8, 3);
    std::vector<int> a, b;
    gate.assign(0, 1, 1, 32, a);
    gate.assign(0, 1, 5, 32, b);  // 5 mod 2 = 1
    REQUIRE(a == b);
    REQUIRE_THAT(gate.notes()[0], Catch::Contains("GPU g replays rank g mod 2"));
  }
  SECTION("a larger batch reuses the block's tokens cyclically") {
    const std::string path = smoke_trace("replay-batch", 1, 8, 4);
    TraceGate gate(path, 3, 16, 2, 8, 1);
    std::vector<int> ids;
    gate.assign(0, 0, 0, 10, ids);
    REQUIRE(ids.size() == 20);
    // Token 4 is token 0 again, token 9 is token 1 (4 tokens in the block, top-2 each).
    REQUIRE(ids[8] == ids[0]);
    REQUIRE(ids[9] == ids[1]);
    REQUIRE(ids[18] == ids[2]);
    REQUIRE_THAT(gate.notes().back(), Catch::Contains("reused cyclically"));
  }
  SECTION("a model that does not fit the trace is an input error") {
    const std::string path = smoke_trace("replay-bad", 1, 8, 4);
    REQUIRE_THROWS_AS(TraceGate(path, 3, 16, 4, 8, 1), InputError);  // top_k
    REQUIRE_THROWS_AS(TraceGate(path, 2, 16, 2, 8, 1), InputError);  // layers
    REQUIRE_THROWS_AS(TraceGate(path, 3, 32, 2, 8, 1), InputError);  // experts
    REQUIRE_THROWS_WITH(run_smoke({"gate.kind=trace", "gate.trace=\"" + path + "\"", "model.top_k=4"}),
                        Catch::Contains("top_k"));
  }
}

namespace {

// Byte offsets of a trace's step blocks (walking payload_len), then of its end marker.
std::vector<std::size_t> block_offsets(const trace_test::Bytes& b) {
  std::uint64_t steps = 0;
  std::memcpy(&steps, b.data() + 32, 8);
  std::vector<std::size_t> at{64};
  for (std::uint64_t i = 0; i < steps; ++i) {
    std::uint64_t len = 0;
    std::memcpy(&len, b.data() + at.back() + 8, 8);
    at.push_back(at.back() + 16 + len + 4);
  }
  return at;
}

// The InputError message of a smoke run replaying `path` ("" when the run succeeds).
std::string replay_error(const std::string& path) {
  try {
    run_smoke({"gate.kind=trace", "gate.trace=\"" + path + "\""});
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// Issue 20: replay read only the steps it needed, so it accepted files `trace stats` rejects.
TEST_CASE("replay rejects a corrupt trace even where the scenario does not read it", "[trace]") {
  const auto dir = test::scratch_dir("replay-corrupt");
  const std::string good_path = smoke_trace("replay-corrupt-good", 5, 8, 32);  // the scenario reads 3 of 5 steps
  const trace_test::Bytes good = trace_test::read_bytes(good_path);
  const auto at = block_offsets(good);
  REQUIRE(at.back() + 16 == good.size());
  REQUIRE(replay_error(good_path).empty());

  const auto expect = [&](const trace_test::Bytes& b, std::uint64_t byte, const std::string& what) {
    const std::string path = trace_test::write_bytes(dir, "bad.moetrace", b);
    REQUIRE_FALSE(trace_test::read_error(path).empty());  // what `trace stats` says too
    const std::string msg = replay_error(path);
    INFO(msg);
    REQUIRE(msg.find(path + ": byte " + std::to_string(byte) + ": ") == 0);
    REQUIRE_THAT(msg, Catch::Contains(what));
  };
  SECTION("last byte cut") {
    expect(trace_test::Bytes(good.begin(), good.end() - 1), good.size() - 1, "unexpected end of file");
  }
  SECTION("one trailing byte") {
    trace_test::Bytes b = good;
    b.push_back(0);
    expect(b, good.size(), "trailing data");
  }
  SECTION("an extra step appended") {
    trace_test::Bytes b(good.begin(), good.begin() + static_cast<long>(at[5]));
    b.insert(b.end(), good.begin() + static_cast<long>(at[4]), good.begin() + static_cast<long>(at[5]));
    b.insert(b.end(), good.begin() + static_cast<long>(at[5]), good.end());
    expect(b, at[5], "more steps than the header's 5");
  }
  SECTION("a cut inside a step the scenario does not read") {
    const std::size_t cut = at[4] + 30;
    expect(trace_test::Bytes(good.begin(), good.begin() + static_cast<long>(cut)), cut, "unexpected end of file");
  }
  SECTION("a flipped byte in a step the scenario does not read") {
    trace_test::Bytes b = good;
    b[at[3] + 20] ^= 1;
    expect(b, at[4] - 4, "step block 3: checksum mismatch");
  }
}

TEST_CASE("replay checks the end marker when the scenario wraps around a short trace", "[trace]") {
  const auto dir = test::scratch_dir("replay-corrupt-wrap");
  trace_test::Bytes b = trace_test::read_bytes(smoke_trace("replay-corrupt-wrap-good", 1, 8, 32));
  b.push_back(0);  // the scenario's 3 steps all replay step 0: nothing past it was ever read
  const std::string path = trace_test::write_bytes(dir, "bad.moetrace", b);
  REQUIRE_THAT(replay_error(path),
               Catch::Contains(path + ": byte " + std::to_string(b.size() - 1) + ": trailing data"));
}
