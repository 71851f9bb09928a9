// Fault what-ifs: a downed link reroutes traffic (hand-computed times), a degraded link slows it,
// a slow GPU's kernels take longer by its factor, and bad fault specs are located errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "core/event_queue.hpp"
#include "engine/faults.hpp"
#include "io/scenario_loader.hpp"
#include "net/network.hpp"
#include "smoke_fixture.hpp"
#include "test_util.hpp"
#include "trace/trace.hpp"

using namespace moesim;
using test::smoke_text;

namespace {

// g0 and g1 joined directly at 100 GB/s, and also through switch s at 50 GB/s per link; no latency.
Topology detour() {
  Topology t("detour");
  const int g0 = t.add_node(TopoNode{"g0", NodeKind::gpu, -1, 0, 0});
  const int g1 = t.add_node(TopoNode{"g1", NodeKind::gpu, -1, 1, 0});
  const int s = t.add_node(TopoNode{"s", NodeKind::network_switch, -1, -1, -1});
  t.add_duplex(g0, g1, Bandwidth::from_GBps(100.0), 0.0, "nvlink");
  t.add_duplex(g0, s, Bandwidth::from_GBps(50.0), 0.0, "nvlink");
  t.add_duplex(s, g1, Bandwidth::from_GBps(50.0), 0.0, "nvlink");
  t.finalize();
  return t;
}

TimePs one_flow(const Topology& t, double bytes) {
  EventQueue q;
  auto net = make_network(NetworkModelKind::flow, q, t, MessageCost{});
  const auto id = net->declare({{0, 1, Bytes(bytes)}}, 1);
  TimePs done = -1;
  net->start(id, [&](TimePs at) { done = at; });
  q.run();
  return done;
}

FaultSpec link(const char* kind, const char* a, const char* b, double factor = 1) {
  FaultSpec f;
  f.kind = *parse_setting<FaultKind>(kind);
  f.where = "test";
  f.a = a;
  f.b = b;
  f.bandwidth_factor = factor;
  return f;
}

}  // namespace

TEST_CASE("a downed link reroutes its traffic: hand-computed times", "[faults]") {
  Topology t = detour();
  // Healthy: the direct link (1 hop) at 100 GB/s: 1e6 B / 100 GB/s = 10 us.
  REQUIRE(t.paths(0, 1).size() == 1);
  REQUIRE(one_flow(t, 1e6) == 10'000'000);
  // Direct link down: the detour g0 -> s -> g1 at 50 GB/s: 1e6 B / 50 GB/s = 20 us, 10 us more.
  apply_link_faults(t, {link("link_down", "g0", "g1")});
  REQUIRE(t.paths(0, 1).size() == 1);
  REQUIRE(t.paths(0, 1)[0].size() == 2);
  REQUIRE(one_flow(t, 1e6) == 20'000'000);
}

TEST_CASE("a degraded link carries bandwidth x factor", "[faults]") {
  Topology t = detour();
  // 100 GB/s x 0.25 = 25 GB/s: 1e6 B take 40 us (still the 1-hop route).
  apply_link_faults(t, {link("link_degraded", "g0", "g1", 0.25)});
  REQUIRE(one_flow(t, 1e6) == 40'000'000);
}

TEST_CASE("link faults that name nothing or cut the network are located errors", "[faults]") {
  Topology t = detour();
  REQUIRE_THROWS_WITH(apply_link_faults(t, {link("link_down", "g0", "nope")}), Catch::Contains("no node \"nope\""));
  REQUIRE_THROWS_WITH(apply_link_faults(t, {link("link_down", "g1", "g1")}), Catch::Contains("no link"));
  Topology u = detour();
  REQUIRE_THROWS_AS(apply_link_faults(u, {link("link_down", "g0", "g1"), link("link_down", "g0", "s")}), InputError);
}

TEST_CASE("a slow GPU's compute takes factor times longer, the report compares with healthy", "[faults]") {
  const std::string smoke = test::source_path("scenarios/smoke.toml");
  const auto dir = test::scratch_dir("faults");
  std::string text = "[[faults]]\nkind = \"slow_gpu\"\ngpu = 3\ncompute_factor = 2.0\n";
  const std::string scenario = smoke_text();
  const std::string path = test::write_file(dir, "slow.toml", scenario + text);
  const ScenarioRun slow = run_scenario(io::load_scenario(path));
  const ScenarioRun healthy = run_scenario(io::load_scenario(smoke));
  // Every kernel on GPU 3 lasts twice as long (to the picosecond, up to rounding of each kernel).
  const double ratio = static_cast<double>(slow.results.gpus[3].compute_busy_ps()) /
                       static_cast<double>(healthy.results.gpus[3].compute_busy_ps());
  REQUIRE(ratio == Approx(2.0).epsilon(1e-6));
  REQUIRE(slow.results.gpus[2].compute_busy_ps() == healthy.results.gpus[2].compute_busy_ps());
  REQUIRE(slow.summary.step_us_p50 > healthy.summary.step_us_p50);
  REQUIRE(slow.healthy_step_us_p50 == Approx(healthy.summary.step_us_p50));
  REQUIRE_THAT(slow.results.notes.back(), Catch::Contains("healthy"));

  // Bad fault entries name their line.
  const std::string bad = test::write_file(dir, "bad.toml", scenario + "[[faults]]\nkind = \"gpu_on_fire\"\n");
  REQUIRE_THROWS_WITH(io::load_scenario(bad), Catch::Contains("bad.toml:") && Catch::Contains("gpu_on_fire"));
  const std::string far = test::write_file(
      dir, "far.toml", scenario + text + "[[faults]]\nkind = \"slow_gpu\"\ngpu = 99\ncompute_factor = 2\n");
  REQUIRE_THROWS_WITH(run_scenario(io::load_scenario(far)), Catch::Contains("far.toml:") && Catch::Contains("gpu 99"));
}

TEST_CASE("a GPU down serves no tokens, its experts fail over to replicas or move", "[faults]") {
  const std::string scenario = smoke_text();
  const auto dir = test::scratch_dir("gpu-down");
  const std::string path = test::write_file(dir, "down.toml", scenario + "[[faults]]\nkind = \"gpu_down\"\ngpu = 0\n");

  const ScenarioRun contiguous = run_scenario(io::load_scenario(path));
  // GPU 0 holds no tokens and no experts: 7 live GPUs x 32 tokens x top-2 x 3 MoE layers per step
  // = 1344 assignments, all computed elsewhere.
  REQUIRE(contiguous.results.gpus[0].received == 0);
  std::int64_t total = 0;
  for (const GpuResult& g : contiguous.results.gpus) total += g.received;
  REQUIRE(total == 3 * 7 * 32 * 2 * 3);
  REQUIRE(contiguous.results.steps[0].tokens == 7 * 32);
  // Contiguous: GPU 0's 2 experts per layer have no replica: 2 x 3 layers move.
  REQUIRE_THAT(contiguous.results.notes[0], Catch::Contains("6 expert placements") && Catch::Contains("0 served"));

  // Redundant with 8 extra slots replicates the hottest experts (0 and 1 under Zipf), so some of
  // GPU 0's experts keep serving from their other replicas.
  const ScenarioRun redundant = run_scenario(io::load_scenario(
      path, {"placement.kind=redundant", "placement.redundant_slots=8", "gate.layer_variation=false"}));
  REQUIRE(redundant.results.gpus[0].received == 0);
  REQUIRE_THAT(redundant.results.notes[1], !Catch::Contains("0 served"));
}

TEST_CASE("a downed link raises the step time by the hand-computed detour cost", "[faults]") {
  const auto dir = test::scratch_dir("detour-step");
  // Two GPUs joined directly at 100 GB/s and through a switch at 50 GB/s per link; no latencies.
  const std::string topo = test::write_file(dir, "detour.toml", R"(name = "detour"
[[node]]
name = "g0"
kind = "gpu"
host = 0
domain = 0
[[node]]
name = "g1"
kind = "gpu"
host = 1
domain = 0
[[node]]
name = "s"
kind = "switch"
[[link]]
a = "g0"
b = "g1"
bandwidth_GBps = 100
latency_ns = 0
class = "nvlink"
[[link]]
a = "g0"
b = "s"
bandwidth_GBps = 50
latency_ns = 0
class = "nvlink"
[[link]]
a = "s"
b = "g1"
bandwidth_GBps = 50
latency_ns = 0
class = "nvlink"
)");
  // A profile whose network adds nothing: efficiency 1 at every size, no per-message latency.
  const std::string prof = test::write_file(dir, "flat.toml", R"([meta]
device = "test"
source = "derived"
[device]
hbm_GBps = 3000.0
hbm_efficiency = 1.0
matrix_bf16_TFLOPs = 1000.0
matrix_efficiency = 1.0
launch_ns = 1000.0
gemm_tile_m = 128
memory_GB = 80.0
[comm.nvlink]
latency_ns = 0.0
efficiency_bytes = [1.0]
efficiency = [1.0]
[comm.scaleout]
latency_ns = 0.0
efficiency_bytes = [1.0]
efficiency = [1.0]
)");
  // Every token of GPU 0 picks expert 1 (on GPU 1) and vice versa: 50 tokens each way per layer.
  TraceHeader h;
  h.layers = 2;
  h.experts = 2;
  h.top_k = 1;
  h.ranks = 2;
  const std::string trace = (dir / "cross.moetrace").string();
  {
    TraceWriter w(trace, h);
    TraceStep st;
    st.tokens.assign(4, 50);
    st.index(1);
    for (int b = 0; b < 4; ++b) st.experts.insert(st.experts.end(), 50, b % 2 == 0 ? 1 : 0);
    w.write(st);
    w.close();
  }
  const std::string scenario = test::write_file(dir, "s.toml", R"(name = "detour"
[model]
hidden = 1000
layers = 2
routed_experts = 2
top_k = 1
expert_ffn = 64
attn_params = 1000
kv_bytes_per_token = 10
dispatch_bytes = 2
combine_bytes = 2
[hardware]
topology = "detour.toml"
profile = "flat.toml"
[workload]
tokens_per_gpu = 50
kv_len = 10
steps = 1
[gate]
kind = "trace"
trace = "cross.moetrace"
[[faults]]
kind = "link_down"
a = "g0"
b = "g1"
)");
  const ScenarioRun faulted = run_scenario(io::load_scenario(scenario));
  // Each dispatch and each combine carries 50 tokens x 1000 x 2 B = 100,000 B per direction:
  // 1 us on the direct 100 GB/s link, 2 us on the 50 GB/s detour, so +1 us for the dispatch and
  // +1 us for the combine of each of the 2 MoE layers (both directions run in parallel on their
  // own links): the step is 4 us = 4,000,000 ps longer, exactly.
  const TimePs healthy_ps = ps_from_us(faulted.healthy_step_us_p50);
  REQUIRE(faulted.results.steps[0].step_ps() - healthy_ps == 4'000'000);
}
