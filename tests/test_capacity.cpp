// Expert capacity: hand-built routings with kept, dropped and padded counts worked out by hand
// under each policy, the planner's traffic after drops and padding, and the smoke scenario end to
// end (dropped fraction, step time, per_expert.csv).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "app/scenario_run.hpp"
#include "comm/collective_plan.hpp"
#include "comm/ep_layout.hpp"
#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "moe/capacity.hpp"
#include "moe/moe_layer.hpp"
#include "moe/placement.hpp"
#include "net/topology_generators.hpp"
#include "test_util.hpp"

using namespace moesim;
using Picks = std::vector<std::vector<int>>;
using Counts = std::vector<std::int64_t>;

namespace {

constexpr int X = kDroppedPick;

// 4 experts, top_k 2, 2 GPUs with 3 tokens each (T = 6). Expert 0 is asked 6 times, 1: 3, 2: 2,
// 3: 1 (12 assignments). Pick 0 of a token is its best.
Picks routing() {
  return {{0, 1, /**/ 0, 2, /**/ 1, 0},   // GPU 0: tokens {0,1}, {0,2}, {1,0}
          {0, 3, /**/ 2, 0, /**/ 0, 1}};  // GPU 1: tokens {0,3}, {2,0}, {0,1}
}

// Contiguous over 2 GPUs on separate hosts: GPU 0 hosts experts {0, 1}, GPU 1 hosts {2, 3}.
const Placement& two_gpus() {
  static const Placement p = make_placement(PlacementKind::contiguous, 1, 4, 2);
  return p;
}

}  // namespace

TEST_CASE("capacity: C = ceil(factor x T x top_k / E)", "[capacity]") {
  CHECK(expert_capacity(1.0, 6, 2, 4) == 3);
  CHECK(expert_capacity(0.5, 6, 2, 4) == 2);  // 1.5 -> 2
  CHECK(expert_capacity(1.25, 64, 2, 16) == 10);
  CHECK(expert_capacity(1.0, 3, 2, 4) == 2);  // C_local of 3 tokens
  CHECK_THROWS_AS(CapacityLimiter(-1.0, CapacityPolicy::pad, 4, 2), InputError);
}

TEST_CASE("capacity: drop by position keeps each expert's first C in batch order", "[capacity]") {
  Picks p = routing();
  CapacityTally t;
  CapacityLimiter(1.0, CapacityPolicy::drop_by_position, 4, 2).apply(p, t);
  CHECK(t.capacity == 3);
  CHECK(t.routed == Counts{6, 3, 2, 1});
  // Expert 0 keeps GPU 0's three (t0 pick 0, t1 pick 0, t2 pick 1) and drops all of GPU 1's.
  CHECK(t.kept == Counts{3, 3, 2, 1});
  CHECK(p == Picks{{0, 1, 0, 2, 1, 0}, {X, 3, 2, X, X, 1}});
  CHECK(t.pad_slots.empty());
}

TEST_CASE("capacity: drop by score keeps best picks first, ties by position", "[capacity]") {
  Picks p = routing();
  CapacityTally t;
  CapacityLimiter(1.0, CapacityPolicy::drop_by_score, 4, 2).apply(p, t);
  // Expert 0's pick-0 requests by position: GPU 0 t0, t1, GPU 1 t0, t2: the first three stay,
  // GPU 1 t2's is dropped; its pick-1 requests (GPU 0 t2, GPU 1 t1) find it full.
  CHECK(t.kept == Counts{3, 3, 2, 1});
  CHECK(p == Picks{{0, 1, 0, 2, 1, X}, {0, 3, 2, X, X, 1}});
  // factor 0.5: C = 2. Expert 0 keeps GPU 0 t0, t1 (pick 0); expert 1 keeps GPU 0 t2 (pick 0)
  // and GPU 0 t0 (pick 1), drops GPU 1 t2's pick 1; experts 2 and 3 fit.
  Picks q = routing();
  CapacityLimiter(0.5, CapacityPolicy::drop_by_score, 4, 2).apply(q, t);
  CHECK(t.capacity == 2);
  CHECK(t.kept == Counts{2, 2, 2, 1});
  CHECK(q == Picks{{0, 1, 0, 2, 1, X}, {X, 3, 2, X, X, X}});
}

TEST_CASE("capacity: dropped picks are neither sent nor computed", "[capacity]") {
  Picks p = routing();
  CapacityTally t;
  CapacityLimiter(1.0, CapacityPolicy::drop_by_position, 4, 2).apply(p, t);
  LayerTraffic traffic;
  MoeLayerPlanner(two_gpus(), {0, 1}, true).plan(0, p, 2, traffic);
  // GPU 0 unchanged: t0 -> GPU 0, t1 -> GPU 0 and 1, t2 -> GPU 0. GPU 1: t0 {-,3} -> GPU 1,
  // t1 {2,-} -> GPU 1, t2 {-,1} -> GPU 0 only: no copy to a GPU whose every pick was dropped.
  CHECK(traffic.copies == Counts{3, 1, 1, 2});
  CHECK(traffic.slot_tokens == std::vector<std::vector<int>>{{3, 3}, {2, 1}});
  CHECK(traffic.expert_load == t.kept);
  // Without dedup: one copy per kept assignment.
  MoeLayerPlanner(two_gpus(), {0, 1}, false).plan(0, p, 2, traffic);
  CHECK(traffic.copies == Counts{5, 1, 1, 2});
}

TEST_CASE("capacity: pad sends and computes full buffers", "[capacity]") {
  Picks p = routing();
  CapacityTally t;
  CapacityLimiter(1.0, CapacityPolicy::pad, 4, 2).apply(p, t);
  // C_local = ceil(1.0 x 3 x 2 / 4) = 2 per source and expert. GPU 0 asks expert 0 three times
  // (t0, t1 at pick 0, t2 at pick 1): drops t2's. GPU 1 likewise (t0, t2 at pick 0, t1 at pick 1).
  CHECK(t.pad_slots == Counts{2, 2});
  CHECK(t.routed == Counts{6, 3, 2, 1});
  CHECK(t.kept == Counts{4, 3, 2, 1});
  CHECK(p == Picks{{0, 1, 0, 2, 1, X}, {0, 3, 2, X, 0, 1}});
  LayerTraffic traffic;
  MoeLayerPlanner(two_gpus(), {0, 1}, true, {0, 1}).plan(0, p, 2, traffic, &t.pad_slots);
  // Every pair carries experts_on(dst) x C_local = 2 x 2 copies, no dedup; every expert computes
  // 2 sources x 2 slots = 4 tokens, of which kept are real: padded 0, 1, 2, 3.
  CHECK(traffic.copies == Counts{4, 4, 4, 4});
  CHECK(traffic.domain_copies == Counts{4, 4, 4, 4});
  CHECK(traffic.slot_tokens == std::vector<std::vector<int>>{{4, 4}, {4, 4}});
  CHECK(traffic.received == Counts{8, 8});
  CHECK(traffic.expert_load == Counts{4, 4, 4, 4});
  // Padded bytes per GPU pair: 4 copies x 100 bytes on the network (0 -> 1, 1 -> 0) and locally.
  HgxSpec spec;
  spec.nodes = 2;
  spec.gpus_per_node = 1;
  Topology topo = make_hgx(spec);
  topo.finalize();
  CollectivePlan plan;
  plan_collective(EpMode::nccl, false, EpLayout(topo, 2), traffic, 100.0, plan);
  REQUIRE(plan.flows.size() == 2u);
  CHECK(plan.flows[0].bytes.count() == 400.0);
  CHECK(plan.flows[1].bytes.count() == 400.0);
  CHECK(plan.local_bytes == std::vector<double>{400.0, 400.0});
}

TEST_CASE("capacity off counts and changes nothing", "[capacity]") {
  Picks p = routing();
  CapacityTally t;
  CapacityLimiter(0.0, CapacityPolicy::drop_by_score, 4, 2).apply(p, t);
  CHECK(p == routing());
  CHECK(t.kept == t.routed);
}

TEST_CASE("capacity end to end on the smoke scenario", "[capacity]") {
  const std::string path = test::source_path("scenarios/smoke.toml");
  const ScenarioRun base = run_scenario(io::load_scenario(path));
  CHECK(base.summary.dropped_fraction == 0.0);
  CHECK(base.summary.routed_assignments == 3 * 8 * 32 * 2 * 3);
  for (const char* policy : {"drop_by_score", "drop_by_position"}) {
    INFO(policy);
    const ScenarioRun run = run_scenario(
        io::load_scenario(path, {"gate.capacity_factor=1.0", std::string("gate.capacity_policy=") + policy}));
    // zipf s = 1 over 16 experts: expert 0 alone is asked ~30% of the picks, C is 1/16 x 2.
    CHECK(run.summary.dropped_fraction > 0.05);
    CHECK(run.summary.dropped_fraction < 0.6);
    CHECK(run.summary.step_us_mean <= base.summary.step_us_mean);
    std::int64_t routed = 0, kept = 0;
    for (const ExpertResult& e : run.results.experts) {
      routed += e.routed;
      kept += e.kept;
      CHECK(e.padded == 0);
    }
    CHECK(routed == run.summary.routed_assignments);
    CHECK(routed - kept == run.summary.dropped_assignments);
    // Capacity per (layer, micro-batch): ceil(1.0 x 256 x 2 / 16) = 32; over 3 steps at most 96.
    for (const ExpertResult& e : run.results.experts) CHECK(e.kept <= 96);
  }
  // Pad: every expert computes 8 sources x C_local = 8 x ceil(32 x 2 / 16) = 32 per layer and step.
  const ScenarioRun pad =
      run_scenario(io::load_scenario(path, {"gate.capacity_factor=1.0", "gate.capacity_policy=pad"}));
  for (const ExpertResult& e : pad.results.experts) CHECK(e.kept + e.padded == 3 * 32);
  CHECK(pad.summary.dropped_fraction > 0.0);

  const auto out = test::scratch_dir("capacity_e2e");
  const ScenarioRun run = run_scenario(io::load_scenario(path, {"gate.capacity_factor=1.0"}));
  write_run(run, out.string());
  std::ifstream csv(out / "per_expert.csv");
  std::string line;
  std::getline(csv, line);
  CHECK(line == "layer,expert,gpus,routed,kept,dropped,padded");
  int rows = 0;
  while (std::getline(csv, line)) ++rows;
  CHECK(rows == 3 * 16);  // 3 MoE layers x 16 experts
  std::ifstream summary(out / "summary.json");
  const std::string json((std::istreambuf_iterator<char>(summary)), std::istreambuf_iterator<char>());
  CHECK(json.find("\"dropped_fraction\"") != std::string::npos);
}
