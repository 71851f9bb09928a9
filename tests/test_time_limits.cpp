// Simulated time stays representable: conversions saturate, the event queue and the engine stop at
// kTimeLimitPs with an error naming where, loaders refuse rates that cannot be simulated, and a run
// can be stopped from outside (deadline, interrupt) or stops itself when it makes no progress.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "core/event_queue.hpp"
#include "core/units.hpp"
#include "io/profile_io.hpp"
#include "io/scenario_loader.hpp"
#include "io/topology_loader.hpp"
#include "net/flow_model.hpp"
#include "smoke_fixture.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

using Fixture = test::SmokeFixture;

// A text file's contents with the first line starting with `key` replaced by `key = value`.
std::string with_value(const std::string& path, const std::string& key, const std::string& value) {
  std::ifstream in(path);
  std::string out, line;
  bool done = false;
  while (std::getline(in, line)) {
    if (!done && line.rfind(key + " ", 0) == 0) {
      line = key + " = " + value;
      done = true;
    }
    out += line + "\n";
  }
  REQUIRE(done);
  return out;
}

}  // namespace

TEST_CASE("time conversions saturate at the limit instead of overflowing", "[units][limits]") {
  const double inf = std::numeric_limits<double>::infinity();
  for (double ps : {1e300, inf, std::nan(""), static_cast<double>(kTimeLimitPs) * 4}) {
    CHECK(ceil_ps(ps) == kTimeLimitPs);
    CHECK(round_ps(ps) == kTimeLimitPs);
  }
  CHECK(ceil_ps(-1e300) == -kTimeLimitPs);
  CHECK(ps_from_us(1e300) == kTimeLimitPs);
  CHECK(ps_from_ns(-inf) == -kTimeLimitPs);
  CHECK(transfer_ps(Bytes(1e6), Bandwidth::from_GBps(1e-300)) == kTimeLimitPs);
  CHECK(compute_ps(1e12, 1e-300) == kTimeLimitPs);
  // Ordinary values are untouched.
  CHECK(ceil_ps(2.5) == 3);
  CHECK(round_ps(2.5) == 3);
  CHECK(ps_from_us(1.5) == 1'500'000);
  // Two saturated values add without overflow.
  CHECK(kTimeLimitPs + kTimeLimitPs > 0);
}

TEST_CASE("the event queue refuses an event at or past the limit", "[core][limits]") {
  EventQueue q;
  REQUIRE_THROWS_AS(q.schedule(kTimeLimitPs, [] {}), TimeLimitError);
  REQUIRE_NOTHROW(q.schedule(kTimeLimitPs - 1, [] {}));
  q.run();
  CHECK(q.now_ps() == kTimeLimitPs - 1);
}

TEST_CASE("a flow that would end past the limit stops the network with TimeLimitError", "[net][limits]") {
  // 1e16 bytes at 1 MB/s: 1e10 s. Before, the finish time overflowed and the flow model re-armed
  // its timer 1 ps ahead forever.
  Topology t("pair");
  const int a = t.add_node(TopoNode{"g0", NodeKind::gpu, -1, 0, 0});
  const int b = t.add_node(TopoNode{"g1", NodeKind::gpu, -1, 1, 0});
  t.add_duplex(a, b, Bandwidth::from_GBps(1e-3), 0.0, "nvlink");
  t.finalize();
  for (auto mode : {NetworkModelKind::flow, NetworkModelKind::analytic}) {
    EventQueue q;
    auto net = make_network(mode, q, t, MessageCost{}, 0);
    const std::vector<FlowDecl> flows{FlowDecl{0, 1, Bytes(1e16)}};
    const std::int64_t first = net->declare(flows, 1);
    REQUIRE_THROWS_AS(
        [&] {
          net->start(first, [](TimePs) {});
          q.run();
        }(),
        TimeLimitError);
  }
}

TEST_CASE("loaders refuse rates that cannot be simulated, at their place", "[io][limits]") {
  const auto dir = test::scratch_dir("rate-limits");
  const std::string profile = test::source_path("calibrate/profiles/h100-sxm-datasheet.toml");
  for (const char* key : {"hbm_GBps", "matrix_bf16_TFLOPs", "hbm_efficiency", "matrix_efficiency"}) {
    const std::string p = test::write_file(dir, std::string(key) + ".toml", with_value(profile, key, "1e-300"));
    INFO(key);
    REQUIRE_THROWS_WITH(io::load_profile(p),
                        Catch::Contains(p + ":") && Catch::Contains(key) && Catch::Contains("out of range"));
  }
  const std::string fp8 = test::write_file(dir, "fp8.toml", with_value(profile, "matrix_fp8_TFLOPs", "1e-300"));
  REQUIRE_THROWS_WITH(io::load_profile(fp8), Catch::Contains("matrix_fp8_TFLOPs") && Catch::Contains("0 (none)"));
  const std::string topo = test::source_path("topologies/hgx-h100.toml");
  const std::string slow = test::write_file(dir, "slow.toml", with_value(topo, "nvlink_GBps", "1e-12"));
  REQUIRE_THROWS_WITH(io::load_topology(slow),
                      Catch::Contains(slow + ":") && Catch::Contains("nvlink_GBps") && Catch::Contains("out of range"));
  // The smallest accepted rate still loads.
  const std::string edge = test::write_file(dir, "edge.toml", with_value(topo, "nvlink_GBps", "0.001"));
  REQUIRE_NOTHROW(io::load_topology(edge));
}

TEST_CASE("a run whose clock would pass the limit stops with the step, GPU, layer and phase", "[sim][limits]") {
  // The slowest HBM the loaders accept: 8 MB of attention weights per layer take hours, so the
  // clock passes 26.7 days within a few hundred steps (before, it wrapped past 2^63 ps).
  Fixture f({"workload.steps=1000"});
  f.profile.hbm_bandwidth = Bandwidth::from_GBps(1e-3);
  f.profile.hbm_efficiency = 1e-3;
  try {
    Simulation(f.scenario, f.topology, f.profile).run();
    FAIL("the run must stop at the time limit");
  } catch (const TimeLimitError& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("smoke.toml: step ") != std::string::npos);
    CHECK(msg.find("limit of simulated time") != std::string::npos);
    CHECK(msg.find("GPU ") != std::string::npos);
    CHECK(msg.find("layer ") != std::string::npos);
    CHECK(msg.find("attention") != std::string::npos);
  }
}

TEST_CASE("a run stops at its deadline or after the step in progress when interrupted", "[sim][control]") {
  Fixture f({"workload.steps=5"});
  RunControl past;
  past.deadline = RunControl::Clock::now();
  const ScenarioRun timed_out = run_scenario(f.scenario, {}, &past);
  CHECK(timed_out.results.stopped == RunStop::timeout);
  CHECK(timed_out.results.steps.empty());
  REQUIRE_THROWS_WITH(write_run(timed_out, (test::scratch_dir("timeout") / "out").string()),
                      Catch::Contains("stopped before it completed a step"));

  // Interrupted after the second step: two whole steps, summarised and written as partial.
  std::atomic<bool> stop{false};
  RunControl ctl;
  ctl.interrupt = &stop;
  int reports = 0;
  ctl.progress = [&](const RunProgress& p) {
    ++reports;
    CHECK(p.steps_total == 5);
    if (p.steps_done == 2) stop = true;
  };
  const ScenarioRun partial = run_scenario(f.scenario, {}, &ctl);
  CHECK(reports >= 2);
  CHECK(partial.results.stopped == RunStop::interrupted);
  CHECK(partial.results.steps.size() == 2);
  CHECK(partial.results.steps_requested == 5);
  CHECK(partial.summary.steps == 2);
  const auto dir = test::scratch_dir("partial") / "out";
  write_run(partial, dir.string());
  std::ifstream in(dir / "summary.json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(text.find("\"partial\"") != std::string::npos);
  CHECK(text.find("\"interrupted\"") != std::string::npos);

  // The same steps, uninterrupted, give the same figures for them.
  Fixture two({"workload.steps=2"});
  const ScenarioRun whole = run_scenario(two.scenario);
  CHECK(whole.summary.step_us_p50 == partial.summary.step_us_p50);
}

namespace {
// A network that never delivers and keeps itself busy: each flow re-arms a timer 1 ps ahead forever.
class SpinningNetwork final : public Network {
 public:
  using Network::Network;
  using Network::start;
  void start(std::int64_t /*flow_id*/, std::uint64_t /*tag*/) override { spin(); }

 private:
  void spin() {
    queue_.schedule_in(1, [this] { spin(); });
  }
};
}  // namespace

TEST_CASE("a step that takes events without progress stops with an error", "[sim][limits]") {
  // Before, this ran forever.
  Fixture f;
  REQUIRE_THROWS_WITH(run_scenario(f.scenario,
                                   [](EventQueue& q, const Topology& t, MessageCost c) {
                                     return std::unique_ptr<Network>(std::make_unique<SpinningNetwork>(q, t, c));
                                   }),
                      Catch::Contains("livelock") && Catch::Contains("step 0"));
}
