// Tests for Placement: generated layouts with their closed-form block sizes, slot lookup, and
// the mappings the constructor must refuse.
#include <catch2/catch.hpp>

#include <vector>

#include "core/error.hpp"
#include "moe/placement.hpp"

using moesim::Placement;
using Layer = std::vector<std::vector<int>>;

TEST_CASE("placement: contiguous 256 experts on 72 GPUs", "[placement]") {
  const Placement p = moesim::make_placement(moesim::PlacementKind::contiguous, 3, 256, 72);
  REQUIRE(p.layers() == 3);
  REQUIRE(p.experts() == 256);
  REQUIRE(p.gpus() == 72);
  // 256 = 72 * 3 + 40: GPUs 0..39 host 4 experts (0..159), GPUs 40..71 host 3 (160..255).
  for (int g = 0; g < 72; ++g) REQUIRE(p.local_experts(2, g).size() == (g < 40 ? 4u : 3u));
  REQUIRE(p.local_experts(0, 0) == std::vector<int>{0, 1, 2, 3});
  REQUIRE(p.local_experts(0, 39) == std::vector<int>{156, 157, 158, 159});
  REQUIRE(p.local_experts(0, 40) == std::vector<int>{160, 161, 162});
  REQUIRE(p.local_experts(0, 71) == std::vector<int>{253, 254, 255});
  REQUIRE(p.replicas(1, 161) == std::vector<int>{40});
  // Expert 161 is the second on GPU 40: slot 1; GPU 0 does not host it.
  REQUIRE(p.slot(1, 161, 40) == 1);
  REQUIRE(p.slot(1, 161, 0) == -1);
  REQUIRE(p.max_slots_per_gpu() == 4);
}

TEST_CASE("placement: contiguous divisible and with more GPUs than experts", "[placement]") {
  // 256 = 64 * 4: four each.
  const Placement even = moesim::make_placement(moesim::PlacementKind::contiguous, 1, 256, 64);
  for (int g = 0; g < 64; ++g) REQUIRE(even.local_experts(0, g).size() == 4u);
  REQUIRE(even.replicas(0, 255) == std::vector<int>{63});
  // 4 experts on 6 GPUs: 4 = 6 * 0 + 4, GPUs 0..3 host one each, GPUs 4 and 5 host nothing.
  const Placement sparse = moesim::make_placement(moesim::PlacementKind::contiguous, 1, 4, 6);
  for (int e = 0; e < 4; ++e) REQUIRE(sparse.replicas(0, e) == std::vector<int>{e});
  REQUIRE(sparse.local_experts(0, 4).empty());
  REQUIRE(sparse.local_experts(0, 5).empty());
  REQUIRE(sparse.max_slots_per_gpu() == 1);
}

TEST_CASE("placement: round robin", "[placement]") {
  // 10 experts on 4 GPUs: expert e on GPU e % 4; GPU 1 hosts 1, 5, 9 (slots 0, 1, 2).
  const Placement p = moesim::make_placement(moesim::PlacementKind::round_robin, 2, 10, 4);
  REQUIRE(p.replicas(0, 5) == std::vector<int>{1});
  REQUIRE(p.local_experts(1, 1) == std::vector<int>{1, 5, 9});
  REQUIRE(p.local_experts(1, 3) == std::vector<int>{3, 7});
  REQUIRE(p.slot(1, 9, 1) == 2);
  REQUIRE(p.max_slots_per_gpu() == 3);
}

TEST_CASE("placement: explicit replicas and slot lookup", "[placement]") {
  // Layer 0: expert 0 on GPUs 2 and 0, expert 1 on GPU 0, expert 2 on GPU 2.
  //   GPU 0 slots: [expert 0, expert 1]; GPU 1: none; GPU 2: [expert 0, expert 2].
  // Layer 1: every expert on GPU 1 (slots 0, 1, 2).
  const Placement p(3, {Layer{{2, 0}, {0}, {2}}, Layer{{1}, {1}, {1}}});
  REQUIRE(p.local_experts(0, 0) == std::vector<int>{0, 1});
  REQUIRE(p.local_experts(0, 1).empty());
  REQUIRE(p.local_experts(0, 2) == std::vector<int>{0, 2});
  REQUIRE(p.slot(0, 0, 2) == 0);
  REQUIRE(p.slot(0, 2, 2) == 1);
  REQUIRE(p.slot(0, 1, 0) == 1);
  REQUIRE(p.slot(0, 1, 2) == -1);
  REQUIRE(p.replica_slots(0, 0) == std::vector<int>{0, 0});
  REQUIRE(p.slot(1, 2, 1) == 2);
  REQUIRE(p.max_slots_per_gpu() == 3);
}

TEST_CASE("placement: impossible mappings throw InputError", "[placement]") {
  using moesim::InputError;
  REQUIRE_THROWS_WITH(Placement(2, {Layer{{0}, {}}}), Catch::Contains("expert 1 has no replica"));
  REQUIRE_THROWS_WITH(Placement(2, {Layer{{0}, {2}}}), Catch::Contains("GPU 2"));
  REQUIRE_THROWS_AS(Placement(2, {Layer{{0}, {-1}}}), InputError);
  REQUIRE_THROWS_WITH(Placement(2, {Layer{{0, 1, 0}}}), Catch::Contains("twice on GPU 0"));
  REQUIRE_THROWS_WITH(Placement(2, {Layer{{0}, {1}}, Layer{{0}}}), Catch::Contains("layer 1 has 1 experts"));
  REQUIRE_THROWS_AS(Placement(2, {}), InputError);
  REQUIRE_THROWS_AS(Placement(2, {Layer{}}), InputError);
  REQUIRE_THROWS_AS(Placement(0, {Layer{{0}}}), InputError);
  // The same GPU for different experts is fine; only one expert twice on a GPU is not.
  REQUIRE_NOTHROW(Placement(1, {Layer{{0}, {0}}}));
  // Load-aware kinds need observed loads (make_placement with PlacementInputs), not this overload.
  REQUIRE_THROWS_WITH(moesim::make_placement(moesim::PlacementKind::greedy, 1, 8, 2),
                      Catch::Contains("greedy is not a fixed layout"));
  REQUIRE_THROWS_AS(moesim::make_placement(moesim::PlacementKind::contiguous, 0, 8, 2), InputError);
  REQUIRE_THROWS_AS(moesim::make_placement(moesim::PlacementKind::contiguous, 1, 0, 2), InputError);
  REQUIRE_THROWS_AS(moesim::make_placement(moesim::PlacementKind::contiguous, 1, 8, 0), InputError);
}
