// Tests for how the MoE layer planner splits a replicated expert's tokens over its replicas: hand
// cases with the split worked out, and on gated batches that EPLB's replicas never raise GPU load
// max/mean on one host and keep tokens in their host where balance allows.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

#include "moe/gate.hpp"
#include "moe/moe_layer.hpp"
#include "moe/placement_strategies.hpp"

using moesim::LayerTraffic;
using moesim::MoeLayerPlanner;
using moesim::Placement;
using moesim::PlacementInputs;
using moesim::PlacementKind;
using Batch = std::vector<std::vector<int>>;

namespace {

// Source g sends picks[g] tokens, each picking expert 0 (top-1).
Batch expert0(const std::vector<int>& picks) {
  Batch ids;
  for (int n : picks) ids.emplace_back(static_cast<std::size_t>(n), 0);
  return ids;
}

// One layer's gate output: `gpus` sources of `tokens` tokens each, top-8 of `experts`.
Batch gated(const moesim::GateSpec& spec, int experts, int gpus, int tokens, std::uint64_t seed) {
  auto gate = moesim::make_synthetic_gate(spec, experts, 8, 1, seed, gpus);
  Batch ids(static_cast<std::size_t>(gpus));
  for (int g = 0; g < gpus; ++g) gate->assign(0, 0, g, tokens, ids[static_cast<std::size_t>(g)]);
  return ids;
}

// A placement from the batch's own expert loads (the simulator's observation window).
Placement place(PlacementKind kind, const Batch& ids, int experts, int slots, const std::vector<int>& domain) {
  PlacementInputs in;
  in.moe_layers = 1;
  in.experts = experts;
  in.gpus = static_cast<int>(ids.size());
  in.gpu_domain = domain;
  in.redundant_slots = slots;
  in.load.assign(1, std::vector<double>(static_cast<std::size_t>(experts), 0.0));
  for (const auto& v : ids)
    for (int e : v) in.load[0][static_cast<std::size_t>(e)] += 1;
  return moesim::make_placement(kind, in);
}

double max_over_mean(const std::vector<std::int64_t>& v) {
  const double sum = static_cast<double>(std::accumulate(v.begin(), v.end(), std::int64_t{0}));
  return static_cast<double>(*std::max_element(v.begin(), v.end())) / (sum / static_cast<double>(v.size()));
}

std::int64_t cross_host_copies(const LayerTraffic& t, const std::vector<int>& host) {
  std::int64_t n = 0;
  for (int s = 0; s < t.gpus; ++s)
    for (int d = 0; d < t.gpus; ++d)
      if (host[static_cast<std::size_t>(s)] != host[static_cast<std::size_t>(d)]) n += t.copies_from(s, d);
  return n;
}

}  // namespace

TEST_CASE("replica split: even shares on one host, own GPU first", "[moe_layer][replica]") {
  // One 8-GPU host, expert 0 on GPUs [0, 1]. GPU 0 sends 10 tokens, the others 1 each: 17 in all,
  // shares 9 (replica 0, 0 mod 2 = first to get the odd one) and 8. GPU 0 keeps 9 of its own, GPU 1
  // its 1; GPU 1 then takes GPU 0's tenth and GPUs 2..7's six. Sending every token without a
  // replica of its own to the first replica on the host gave GPU 0 16 and GPU 1 1.
  const Placement p(8, {{{0, 1}}});
  LayerTraffic t;
  MoeLayerPlanner(p, std::vector<int>(8, 0), true).plan(0, expert0({10, 1, 1, 1, 1, 1, 1, 1}), 1, t);
  REQUIRE(t.received == std::vector<std::int64_t>{9, 8, 0, 0, 0, 0, 0, 0});
  REQUIRE(t.copies_from(0, 0) == 9);
  REQUIRE(t.copies_from(0, 1) == 1);
  REQUIRE(t.copies_from(1, 1) == 1);
  for (int g = 2; g < 8; ++g) REQUIRE(t.copies_from(g, 1) == 1);
  REQUIRE(t.expert_load == std::vector<std::int64_t>{17});
}

TEST_CASE("replica split: a host keeps its tokens up to its replicas' shares", "[moe_layer][replica]") {
  // Hosts {0, 0, 1, 1}, expert 0 on GPUs [1, 2], one per host. Sources send 6, 2, 1, 1: shares
  // 5 and 5. GPU 1 takes its own 2 and 3 of GPU 0's; GPU 2 its own 1 and GPU 3's 1, then GPU 0's
  // other 3, the fewest tokens that can cross hosts with both replicas at 5.
  const Placement p(4, {{{1, 2}}});
  const std::vector<int> host{0, 0, 1, 1};
  for (bool dedup : {true, false}) {
    LayerTraffic t;
    MoeLayerPlanner(p, host, dedup).plan(0, expert0({6, 2, 1, 1}), 1, t);
    REQUIRE(t.copies == std::vector<std::int64_t>{0, 3, 3, 0,  //
                                                  0, 2, 0, 0,  //
                                                  0, 0, 1, 0,  //
                                                  0, 0, 1, 0});
    REQUIRE(t.received == std::vector<std::int64_t>{0, 5, 5, 0});
    REQUIRE(cross_host_copies(t, host) == 3);
  }
  // Balanced demand (2, 3 | 3, 2) crosses no host.
  LayerTraffic t;
  MoeLayerPlanner(p, host, true).plan(0, expert0({2, 3, 3, 2}), 1, t);
  REQUIRE(t.received == std::vector<std::int64_t>{0, 5, 5, 0});
  REQUIRE(cross_host_copies(t, host) == 0);
}

TEST_CASE("replica split: the NVLink domain comes before other domains", "[moe_layer][replica]") {
  // Hosts of 2 GPUs, domains of 4. Expert 0 on GPUs [4, 0], listed in that order. GPUs 2 and 6
  // send 2 tokens each; neither shares a host with a replica. Given the domains, each goes to the
  // replica in its domain; without them each spreads over both and half of them cross.
  const Placement p(8, {{{4, 0}}});
  const std::vector<int> host{0, 0, 1, 1, 2, 2, 3, 3};
  const Batch ids = expert0({0, 0, 2, 0, 0, 0, 2, 0});
  LayerTraffic near, far;
  MoeLayerPlanner(p, host, true, {0, 0, 0, 0, 1, 1, 1, 1}).plan(0, ids, 1, near);
  MoeLayerPlanner(p, host, true).plan(0, ids, 1, far);
  REQUIRE(near.copies_from(2, 0) == 2);
  REQUIRE(near.copies_from(6, 4) == 2);
  for (int src : {2, 6})
    for (int dst : {0, 4}) REQUIRE(far.copies_from(src, dst) == 1);
  REQUIRE(near.received == far.received);
}

TEST_CASE("replica split: EPLB replicas never raise load max/mean on one host", "[moe_layer][replica]") {
  // One 8-GPU host, 64 experts, top-8, 256 tokens per GPU (mean load 2048 per GPU), placed from the
  // batch's own loads. Every placement computes the same assignments, so max/mean compares as the
  // most loaded GPU's count; more replicas may cost a few assignments of rounding (integer shares,
  // EPLB's heuristic packing), no more. Before the split was balanced, 8 replicas on Zipf 0.6 gave
  // max/mean 1.428 against 1.091 without.
  const int gpus = 8, experts = 64;
  const std::int64_t rounding = 4;
  const std::vector<int> host(gpus, 0);
  for (double exponent : {0.6, 1.0, 1.2, 1.6})
    for (std::uint64_t seed : {1, 2, 3}) {
      moesim::GateSpec spec;
      spec.kind = moesim::GateModel::zipf;
      spec.zipf_exponent = exponent;
      spec.layer_variation = true;
      const Batch ids = gated(spec, experts, gpus, 256, seed);
      const auto max_load = [&](PlacementKind kind, int slots) {
        const Placement p = place(kind, ids, experts, slots, host);
        LayerTraffic t;
        MoeLayerPlanner(p, host, true).plan(0, ids, 8, t);
        return *std::max_element(t.received.begin(), t.received.end());
      };
      CAPTURE(exponent, seed);
      const std::int64_t greedy = max_load(PlacementKind::greedy, 0);
      std::int64_t fewer = max_load(PlacementKind::redundant, 0);
      for (int slots : {8, 16, 32}) {
        CAPTURE(slots);
        const std::int64_t with = max_load(PlacementKind::redundant, slots);
        REQUIRE(with <= fewer + rounding);
        REQUIRE(with <= greedy + rounding);
        fewer = with;
      }
    }
}

TEST_CASE("replica split: replicas across hosts keep tokens in their host", "[moe_layer][replica]") {
  // Four 8-GPU hosts, 64 experts + 32 replicas, EPLB over the cluster as one domain, so replicas
  // land in any host. The same shares with and without locality (each GPU its own host); with it,
  // fewer copies cross hosts than a locality-blind split, and than no replicas at all (measured:
  // 42099 against 45398 and 47170, load max/mean 1.031 against 2.433 without replicas).
  const int gpus = 32, experts = 64;
  std::vector<int> host(gpus), own(gpus);
  for (int g = 0; g < gpus; ++g) host[static_cast<std::size_t>(g)] = g / 8;
  std::iota(own.begin(), own.end(), 0);
  moesim::GateSpec spec;
  spec.kind = moesim::GateModel::zipf;
  spec.zipf_exponent = 1.2;
  spec.layer_variation = true;
  spec.rank_locality = 0.5;
  const Batch ids = gated(spec, experts, gpus, 256, 7);
  const Placement p0 = place(PlacementKind::redundant, ids, experts, 0, {});
  const Placement p32 = place(PlacementKind::redundant, ids, experts, 32, {});
  LayerTraffic none, local, blind;
  MoeLayerPlanner(p0, host, true).plan(0, ids, 8, none);
  MoeLayerPlanner(p32, host, true).plan(0, ids, 8, local);
  MoeLayerPlanner(p32, own, true).plan(0, ids, 8, blind);
  REQUIRE(local.received == blind.received);
  REQUIRE(max_over_mean(local.received) <= max_over_mean(none.received));
  REQUIRE(cross_host_copies(local, host) < cross_host_copies(blind, host));
  REQUIRE(cross_host_copies(local, host) <= cross_host_copies(none, host));
}
