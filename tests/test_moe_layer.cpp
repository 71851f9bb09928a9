// Tests for the MoE layer planner: hand-built cases with closed-form copy counts, the replica
// split (more in test_replica_split.cpp), and invariants on a DeepSeek-sized random layer.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/error.hpp"
#include "moe/gate.hpp"
#include "moe/moe_layer.hpp"
#include "moe/placement.hpp"

using moesim::LayerTraffic;
using moesim::MoeLayerPlanner;
using moesim::Placement;
using Layer = std::vector<std::vector<int>>;

TEST_CASE("moe layer: dedup sends one copy per destination GPU", "[moe_layer]") {
  // 2 GPUs on separate hosts, 4 experts contiguous: GPU 0 hosts {0, 1}, GPU 1 hosts {2, 3}.
  // GPU 0's one token picks {0, 1}; GPU 1's one token picks {0, 2}.
  const Placement p = moesim::make_placement(moesim::PlacementKind::contiguous, 1, 4, 2);
  const std::vector<std::vector<int>> ids{{0, 1}, {0, 2}};
  LayerTraffic dedup, plain;
  MoeLayerPlanner(p, {0, 1}, true).plan(0, ids, 2, dedup);
  MoeLayerPlanner(p, {0, 1}, false).plan(0, ids, 2, plain);
  // Dedup: both of GPU 0's experts sit on GPU 0 -> 1 local copy (the diagonal); GPU 1's token
  // needs GPU 0 (expert 0) and itself (expert 2) -> one copy each.
  REQUIRE(dedup.copies == std::vector<std::int64_t>{1, 0, 1, 1});
  // No dedup: one copy per token-expert -> GPU 0 to itself 2.
  REQUIRE(plain.copies == std::vector<std::int64_t>{2, 0, 1, 1});
  REQUIRE(plain.copies_from(0, 0) == 2);
  for (const LayerTraffic* t : {&dedup, &plain}) {
    // Expert 0 (GPU 0 slot 0) gets 2 tokens, expert 1 (GPU 0 slot 1) 1, expert 2 (GPU 1 slot 0) 1.
    REQUIRE(t->slot_tokens == std::vector<std::vector<int>>{{2, 1}, {1, 0}});
    REQUIRE(t->received == std::vector<std::int64_t>{3, 1});
    REQUIRE(t->expert_load == std::vector<std::int64_t>{2, 1, 1, 0});
  }
}

TEST_CASE("moe layer: replicas split evenly, own GPU first, then same host", "[moe_layer]") {
  // 4 GPUs, hosts {0, 0, 1, 1}. Expert 0 on GPUs [3, 1], expert 1 on GPUs [0, 1].
  // Slots: GPU 0 [e1], GPU 1 [e0, e1], GPU 2 none, GPU 3 [e0].
  // Every GPU has 4 tokens, each picking {0, 1} (top-2): 16 picks per expert, 8 per replica.
  //   expert 0: GPUs 1 and 3 keep their own 4; then GPU 1 takes host 0's (GPU 0) 4 and GPU 3
  //             host 1's (GPU 2) 4.
  //   expert 1: GPUs 0 and 1 keep their own 4; no host 1 GPU has a replica, so GPUs 2 and 3
  //             spread their 4 over both: 2 each.
  const Placement p(4, {Layer{{3, 1}, {0, 1}}});
  const std::vector<std::vector<int>> ids(4, std::vector<int>{0, 1, 0, 1, 0, 1, 0, 1});
  LayerTraffic t;
  MoeLayerPlanner(p, {0, 0, 1, 1}, true).plan(0, ids, 2, t);
  // Copies with dedup (row = source):
  //   GPU 0: 4 to GPU 1 (expert 0), 4 local (expert 1).
  //   GPU 1: both experts local -> 4 (one per token).
  //   GPU 2: 4 to GPU 3 (expert 0), 2 to GPU 0 and 2 to GPU 1 (expert 1).
  //   GPU 3: 4 local, 2 to GPU 0, 2 to GPU 1.
  REQUIRE(t.copies == std::vector<std::int64_t>{4, 4, 0, 0,  //
                                                0, 4, 0, 0,  //
                                                2, 2, 0, 4,  //
                                                2, 2, 0, 4});
  // Every replica serves 8.
  REQUIRE(t.slot_tokens == std::vector<std::vector<int>>{{8}, {8, 8}, {}, {8}});
  // 4 GPUs x 4 tokens x top-2 = 32 = 8 + 16 + 0 + 8.
  REQUIRE(t.received == std::vector<std::int64_t>{8, 16, 0, 8});
  REQUIRE(t.expert_load == std::vector<std::int64_t>{16, 16});

  LayerTraffic plain;
  MoeLayerPlanner(p, {0, 0, 1, 1}, false).plan(0, ids, 2, plain);
  // Without dedup only GPU 1 changes: 2 local copies per token -> 8.
  REQUIRE(plain.copies_from(1, 1) == 8);
  REQUIRE(plain.copies_from(0, 1) == 4);
  REQUIRE(plain.slot_tokens == t.slot_tokens);
}

TEST_CASE("moe layer: invariants on a DeepSeek-sized layer", "[moe_layer]") {
  const int gpus = 72, experts = 256, top_k = 8, tokens = 128;
  moesim::GateSpec spec;
  spec.kind = moesim::GateModel::zipf;
  auto gate = moesim::make_synthetic_gate(spec, experts, top_k, 2, 5);
  std::vector<std::vector<int>> ids(gpus);
  for (int g = 0; g < gpus; ++g) gate->assign(0, 1, g, tokens, ids[static_cast<std::size_t>(g)]);
  std::vector<std::int64_t> gate_load(experts, 0);
  for (const auto& v : ids)
    for (int e : v) ++gate_load[static_cast<std::size_t>(e)];
  std::vector<int> hosts(gpus);
  for (int g = 0; g < gpus; ++g) hosts[static_cast<std::size_t>(g)] = g / 4;

  // Contiguous (single replica) and a two-replica layout (expert e on e % 72 and (e + 36) % 72).
  Layer twice(experts);
  for (int e = 0; e < experts; ++e) twice[static_cast<std::size_t>(e)] = {e % gpus, (e + 36) % gpus};
  for (const Placement& p :
       {moesim::make_placement(moesim::PlacementKind::contiguous, 2, experts, gpus), Placement(gpus, {twice, twice})}) {
    LayerTraffic dedup, plain;
    MoeLayerPlanner(p, hosts, true).plan(1, ids, top_k, dedup);
    MoeLayerPlanner(p, hosts, false).plan(1, ids, top_k, plain);
    // Every assignment is computed once: sum received = 72 x 128 x 8.
    REQUIRE(std::accumulate(dedup.received.begin(), dedup.received.end(), std::int64_t{0}) == gpus * tokens * top_k);
    REQUIRE(dedup.expert_load == gate_load);
    REQUIRE(plain.expert_load == gate_load);
    REQUIRE(plain.slot_tokens == dedup.slot_tokens);
    for (int g = 0; g < gpus; ++g) {
      std::int64_t with = 0, without = 0;
      for (int d = 0; d < gpus; ++d) {
        with += dedup.copies_from(g, d);
        without += plain.copies_from(g, d);
        REQUIRE(dedup.copies_from(g, d) <= plain.copies_from(g, d));
      }
      // Per source: dedup <= tokens x min(top_k, gpus) = 128 x 8; no dedup = 128 x 8 exactly.
      REQUIRE(with <= tokens * std::min(top_k, gpus));
      REQUIRE(without == tokens * top_k);
    }
  }
}

TEST_CASE("moe layer: dedup bound with fewer GPUs than top_k, and output reuse", "[moe_layer]") {
  // 4 GPUs, 32 experts round robin, top-8: a token reaches at most min(8, 4) = 4 GPUs.
  const Placement p = moesim::make_placement(moesim::PlacementKind::round_robin, 1, 32, 4);
  auto gate = moesim::make_synthetic_gate(moesim::GateSpec{}, 32, 8, 1, 2);
  std::vector<std::vector<int>> ids(4);
  for (int g = 0; g < 4; ++g) gate->assign(0, 0, g, 100, ids[static_cast<std::size_t>(g)]);
  const MoeLayerPlanner planner(p, {0, 0, 0, 0}, true);
  LayerTraffic t;
  planner.plan(0, ids, 8, t);
  const auto total = std::accumulate(t.copies.begin(), t.copies.end(), std::int64_t{0});
  // 4 sources x 100 tokens x 4 GPUs at most.
  REQUIRE(total <= 4 * 100 * 4);
  REQUIRE(total > 4 * 100 * 3);  // 8 uniform experts over 4 GPUs almost always hit all 4
  // Reuse: a second plan with empty batches leaves nothing from the first.
  planner.plan(0, std::vector<std::vector<int>>(4), 8, t);
  REQUIRE(std::all_of(t.copies.begin(), t.copies.end(), [](std::int64_t c) { return c == 0; }));
  REQUIRE(std::all_of(t.received.begin(), t.received.end(), [](std::int64_t c) { return c == 0; }));
  REQUIRE(t.slot_tokens.size() == 4);
  REQUIRE(t.slot_tokens[0] == std::vector<int>(8, 0));
}

TEST_CASE("moe layer: bad inputs throw", "[moe_layer]") {
  const Placement p = moesim::make_placement(moesim::PlacementKind::contiguous, 1, 4, 2);
  REQUIRE_THROWS_AS(MoeLayerPlanner(p, {0}, true), moesim::Error);
  const MoeLayerPlanner planner(p, {0, 0}, true);
  LayerTraffic t;
  REQUIRE_THROWS_AS(planner.plan(0, {{0, 1}}, 2, t), moesim::Error);         // one GPU's batch for two GPUs
  REQUIRE_THROWS_AS(planner.plan(0, {{0, 1, 2}, {}}, 2, t), moesim::Error);  // 3 ids, top-2
  REQUIRE_THROWS_AS(planner.plan(0, {{0, 4}, {}}, 2, t), moesim::Error);     // expert 4 of 4
  REQUIRE_THROWS_AS(planner.plan(0, {{0, -1}, {}}, 2, t), moesim::Error);
  REQUIRE_THROWS_AS(planner.plan(1, {{0, 1}, {}}, 2, t), moesim::Error);  // layer 1 of 1
  REQUIRE_THROWS_AS(planner.plan(0, {{0, 1}, {}}, 0, t), moesim::Error);
}

TEST_CASE("moe layer: tokens per destination domain, for few and many domains", "[moe_layer]") {
  // 96 GPUs, 192 experts (2 per GPU), top-8 from a uniform gate; domains of 24, 6 and 1 GPUs (4,
  // 16 and 96 domains: the planner counts them three different ways). Brute force: for each
  // token, the distinct domains of its experts' GPUs.
  const int gpus = 96, experts = 192, k = 8, tokens = 64;
  const Placement p = moesim::make_placement(moesim::PlacementKind::contiguous, 1, experts, gpus);
  const auto gate = moesim::make_synthetic_gate(moesim::GateSpec{}, experts, k, 1, 11, gpus);
  Layer ids(gpus);
  for (int g = 0; g < gpus; ++g) gate->assign(0, 0, g, tokens, ids[static_cast<std::size_t>(g)]);
  for (int per_domain : {24, 6, 1}) {
    const int domains = gpus / per_domain;
    std::vector<int> domain(gpus);
    for (int g = 0; g < gpus; ++g) domain[static_cast<std::size_t>(g)] = g / per_domain;
    for (bool dedup : {true, false}) {
      const MoeLayerPlanner planner(p, std::vector<int>(gpus, 0), dedup, domain);
      LayerTraffic t;
      planner.plan(0, ids, k, t);
      REQUIRE(t.domains == domains);
      for (int s = 0; s < gpus; ++s) {
        std::vector<std::int64_t> want(static_cast<std::size_t>(domains), 0);
        const auto& row = ids[static_cast<std::size_t>(s)];
        for (int tok = 0; tok < tokens; ++tok) {
          std::vector<char> hit(static_cast<std::size_t>(domains), 0);
          for (int j = 0; j < k; ++j) {
            const int e = row[static_cast<std::size_t>(tok * k + j)];
            hit[static_cast<std::size_t>(domain[static_cast<std::size_t>(p.replicas(0, e)[0])])] = 1;
          }
          for (int d = 0; d < domains; ++d) want[static_cast<std::size_t>(d)] += hit[static_cast<std::size_t>(d)];
        }
        for (int d = 0; d < domains; ++d) REQUIRE(t.domain_copies_from(s, d) == want[static_cast<std::size_t>(d)]);
      }
    }
  }
}
