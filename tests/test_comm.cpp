// Expert-parallel communication modes: collective plans, kernel costs, the comm benchmark.
#include <catch2/catch.hpp>

#include <set>

#include <cstdint>
#include <string>
#include <vector>

#include "comm/collective_plan.hpp"
#include "comm/comm_benchmark.hpp"
#include "comm/ep_kernel.hpp"
#include "comm/ep_layout.hpp"
#include "core/error.hpp"
#include "core/event_queue.hpp"
#include "io/profile_io.hpp"
#include "moe/moe_layer.hpp"
#include "moe/placement.hpp"
#include "net/network.hpp"
#include "net/topology_generators.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

Topology hgx(int nodes, int gpus_per_node) {
  HgxSpec s;
  s.nodes = nodes;
  s.gpus_per_node = gpus_per_node;
  Topology t = make_hgx(s);
  t.finalize();
  return t;
}

// All-zero traffic of `gpus` GPUs in `domains` NVLink domains.
LayerTraffic zero_traffic(int gpus, int domains) {
  LayerTraffic t;
  t.gpus = gpus;
  t.domains = domains;
  t.copies.assign(static_cast<std::size_t>(gpus * gpus), 0);
  t.domain_copies.assign(static_cast<std::size_t>(gpus * domains), 0);
  return t;
}
void set_copies(LayerTraffic& t, int s, int d, std::int64_t n) {
  t.copies[static_cast<std::size_t>(s * t.gpus + d)] = n;
}
void set_domain(LayerTraffic& t, int s, int dom, std::int64_t n) {
  t.domain_copies[static_cast<std::size_t>(s * t.domains + dom)] = n;
}

// Flow i as (src, dst, bytes, messages), and its waiters in order.
void check_flow(const CollectivePlan& p, std::size_t i, int src, int dst, double bytes, std::int64_t messages,
                const std::vector<int>& waiters) {
  INFO("flow " << i);
  REQUIRE(i < p.flows.size());
  CHECK(p.flows[i].src_gpu == src);
  CHECK(p.flows[i].dst_gpu == dst);
  CHECK(p.flows[i].bytes.count() == bytes);
  CHECK(p.flows[i].messages == messages);
  std::vector<int> w;
  p.for_each_waiter(i, [&](int g) { w.push_back(g); });
  CHECK(w == waiters);
}

// GPU 0 of 2 x 4 GPUs has one token for GPUs 5, 6, 7 (and 4 when `also_4`).
LayerTraffic one_token_traffic(bool also_4) {
  LayerTraffic t = zero_traffic(8, 2);
  for (int d = also_4 ? 4 : 5; d < 8; ++d) set_copies(t, 0, d, 1);
  set_domain(t, 0, 1, 1);
  return t;
}

Profile h100() { return io::load_profile(test::source_path("calibrate/profiles/h100-sxm.toml")); }

}  // namespace

TEST_CASE("EpLayout numbers domains and local ranks, and picks live rail proxies", "[comm]") {
  const Topology t = hgx(2, 4);
  const EpLayout l(t, 8);
  CHECK(l.gpus() == 8);
  CHECK(l.domains() == 2);
  CHECK(l.spans_scaleout());
  CHECK(l.max_domain_size() == 4);
  for (int g = 0; g < 8; ++g) {
    INFO("gpu " << g);
    CHECK(l.domain(g) == g / 4);
    CHECK(l.local_rank(g) == g % 4);
    CHECK_FALSE(l.down(g));
  }
  CHECK(l.members(1) == std::vector<int>{4, 5, 6, 7});
  CHECK(l.proxy(1, 1) == 5);
  CHECK(l.proxy(6, 0) == 2);
  CHECK(l.proxy(1, 0) == 1);

  std::vector<char> down(8, 0);
  down[5] = 1;
  const EpLayout d(t, 8, down);
  CHECK(d.down(5));
  CHECK(d.proxy(1, 1) == 6);
  CHECK(d.proxy(2, 1) == 6);
  down[7] = 1;
  CHECK(EpLayout(t, 8, down).proxy(3, 1) == 4);  // wraps around the domain
  down.assign(8, 0);
  for (int g = 4; g < 8; ++g) down[static_cast<std::size_t>(g)] = 1;
  CHECK(EpLayout(t, 8, down).proxy(0, 1) == -1);

  const EpLayout one(t, 4);  // the first node only
  CHECK(one.domains() == 1);
  CHECK_FALSE(one.spans_scaleout());
  CHECK_THROWS_AS(EpLayout(t, 9), Error);
  CHECK_THROWS_AS(EpLayout(t, 8, std::vector<char>(3, 0)), Error);
}

TEST_CASE("hierarchical dispatch: one RDMA flow to the rail proxy, NVLink forwards from it", "[comm]") {
  const Topology t = hgx(2, 4);
  const EpLayout l(t, 8);
  CollectivePlan p;
  plan_collective(EpMode::hierarchical, false, l, one_token_traffic(false), 100.0, p);
  REQUIRE(p.flows.size() == 4);
  check_flow(p, 0, 0, 4, 100, 1, {5, 6, 7});
  check_flow(p, 1, 4, 5, 100, 1, {5});
  check_flow(p, 2, 4, 6, 100, 1, {6});
  check_flow(p, 3, 4, 7, 100, 1, {7});
  CHECK(p.sender_first == std::vector<std::int32_t>{0, 1, 1, 1, 1, 4, 4, 4, 4});
  CHECK(p.awaited == std::vector<std::int32_t>{0, 0, 0, 0, 0, 2, 2, 2});
  CHECK(p.out_bytes == std::vector<double>{100, 0, 0, 0, 300, 0, 0, 0});
  CHECK(p.in_bytes == std::vector<double>{0, 0, 0, 0, 100, 100, 100, 100});
  CHECK(p.local_bytes == std::vector<double>(8, 0.0));
  CHECK(p.flows_of(4).size() == 3);

  // The token also needs the proxy itself: it waits for the RDMA flow, and nothing goes 4 -> 4.
  plan_collective(EpMode::hierarchical, false, l, one_token_traffic(true), 100.0, p);
  REQUIRE(p.flows.size() == 4);
  check_flow(p, 0, 0, 4, 100, 1, {4, 5, 6, 7});
  check_flow(p, 1, 4, 5, 100, 1, {5});
  check_flow(p, 2, 4, 6, 100, 1, {6});
  check_flow(p, 3, 4, 7, 100, 1, {7});
  CHECK(p.awaited == std::vector<std::int32_t>{0, 0, 0, 0, 1, 2, 2, 2});
  CHECK(p.out_bytes[4] == 300);

  // Traffic without per-domain counts is refused.
  LayerTraffic flat = one_token_traffic(false);
  flat.domains = 0;
  CHECK_THROWS_AS(plan_collective(EpMode::hierarchical, false, l, flat, 100.0, p), Error);
}

TEST_CASE("hierarchical combine: NVLink partials to the proxy, one RDMA result back", "[comm]") {
  const Topology t = hgx(2, 4);
  const EpLayout l(t, 8);
  CollectivePlan p;
  plan_collective(EpMode::hierarchical, true, l, one_token_traffic(false), 100.0, p);
  REQUIRE(p.flows.size() == 4);
  check_flow(p, 0, 4, 0, 100, 1, {0});  // domain_copies(0, 1) = 1 reduced result
  check_flow(p, 1, 5, 4, 100, 1, {0});  // awaited by the remote source, not by 4
  check_flow(p, 2, 6, 4, 100, 1, {0});
  check_flow(p, 3, 7, 4, 100, 1, {0});
  CHECK(p.sender_first == std::vector<std::int32_t>{0, 0, 0, 0, 0, 1, 2, 3, 4});
  CHECK(p.awaited == std::vector<std::int32_t>{4, 0, 0, 0, 0, 0, 0, 0});
  CHECK(p.out_bytes == std::vector<double>{0, 0, 0, 0, 100, 100, 100, 100});
  CHECK(p.in_bytes == std::vector<double>{100, 0, 0, 0, 300, 0, 0, 0});
  for (int g = 0; g < 8; ++g)
    for (const FlowDecl& f : p.flows_of(g)) CHECK(f.src_gpu == g);
}

TEST_CASE("flat modes send the planner's copies directly", "[comm]") {
  const Topology t = hgx(1, 2);
  const EpLayout l(t, 2);
  // Experts 0, 1 on GPU 0, experts 2, 3 on GPU 1; each GPU's one token picks experts 2 and 3.
  const Placement placement = make_placement(PlacementKind::contiguous, 1, 4, 2);
  const std::vector<std::vector<int>> ids{{2, 3}, {3, 2}};
  LayerTraffic per_pair;
  LayerTraffic per_gpu;
  MoeLayerPlanner(placement, {0, 0}, false).plan(0, ids, 2, per_pair);
  MoeLayerPlanner(placement, {0, 0}, true).plan(0, ids, 2, per_gpu);
  REQUIRE(per_pair.copies == std::vector<std::int64_t>{0, 2, 0, 2});
  REQUIRE(per_gpu.copies == std::vector<std::int64_t>{0, 1, 0, 1});

  CollectivePlan p;
  plan_collective(EpMode::low_latency, false, l, per_pair, 10.0, p);
  REQUIRE(p.flows.size() == 1);
  check_flow(p, 0, 0, 1, 20, 2, {1});
  CHECK(p.waiter_first.empty());
  CHECK(p.local_bytes == std::vector<double>{0, 20});
  CHECK(p.awaited == std::vector<std::int32_t>{0, 2});  // the flow and the local copy
  CHECK(p.sender_first == std::vector<std::int32_t>{0, 1, 1});

  plan_collective(EpMode::low_latency, true, l, per_pair, 10.0, p);
  REQUIRE(p.flows.size() == 1);
  check_flow(p, 0, 1, 0, 20, 2, {0});
  CHECK(p.local_bytes == std::vector<double>{0, 20});
  CHECK(p.awaited == std::vector<std::int32_t>{1, 1});
  CHECK(p.sender_first == std::vector<std::int32_t>{0, 0, 1});

  plan_collective(EpMode::one_sided, false, l, per_gpu, 10.0, p);
  REQUIRE(p.flows.size() == 1);
  check_flow(p, 0, 0, 1, 10, 1, {1});
  CHECK(p.local_bytes == std::vector<double>{0, 10});

  plan_collective(EpMode::nccl, false, l, per_gpu, 10.0, p);
  REQUIRE(p.flows.size() == 1);
  check_flow(p, 0, 0, 1, 10, 0, {1});
  CHECK(p.out_bytes == std::vector<double>{10, 0});
  CHECK(p.in_bytes == std::vector<double>{0, 10});

  // Hierarchical inside one domain is flat (messages counted).
  plan_collective(EpMode::hierarchical, false, l, per_gpu, 10.0, p);
  REQUIRE(p.flows.size() == 1);
  check_flow(p, 0, 0, 1, 10, 1, {1});
  CHECK(p.waiter_first.empty());

  const EpLayout three(hgx(1, 4), 3);
  CHECK_THROWS_AS(plan_collective(EpMode::nccl, false, three, per_gpu, 10.0, p), Error);
}

TEST_CASE("mode_dedups: nccl follows the flag, the kernels fix it", "[comm]") {
  CHECK(mode_dedups(EpMode::nccl, true));
  CHECK_FALSE(mode_dedups(EpMode::nccl, false));
  for (bool flag : {false, true}) {
    CHECK_FALSE(mode_dedups(EpMode::low_latency, flag));
    CHECK(mode_dedups(EpMode::hierarchical, flag));
    CHECK(mode_dedups(EpMode::one_sided, flag));
  }
}

TEST_CASE("EpKernel fixed costs, group checks and profile lookup", "[comm]") {
  EpKernelParams params;
  params.mode = EpMode::hierarchical;
  params.dispatch_fixed_us = 10;
  params.combine_fixed_us = 20;
  params.dispatch_fixed_scaleout_us = 30;
  params.combine_fixed_scaleout_us = 40;
  params.per_peer_ns = 100;
  const EpKernel k{"k", params};
  const Topology two = hgx(2, 4);
  const EpLayout node(two, 4);
  const EpLayout both(two, 8);
  CHECK(k.fixed_ps(false, node) == 10'300'000);  // 10 us + 3 peers x 100 ns
  CHECK(k.fixed_ps(true, node) == 20'300'000);
  CHECK(k.fixed_ps(false, both) == 30'700'000);  // 30 us + 7 peers x 100 ns
  CHECK(k.fixed_ps(true, both) == 40'700'000);
  CHECK_NOTHROW(k.check_group(both, "here"));

  EpKernel os = k;
  os.params.mode = EpMode::one_sided;
  CHECK_NOTHROW(os.check_group(node, "here"));
  CHECK_THROWS_AS(os.check_group(both, "here"), InputError);
  CHECK_THROWS_WITH(os.check_group(both, "here"), Catch::StartsWith("here:") && Catch::Contains("spans 2 NVLink"));

  const Profile p = h100();
  try {
    EpKernel::from_profile(p, "deepep_fast", "scenario.toml");
    FAIL("found an unknown kernel");
  } catch (const InputError& e) {
    const std::string msg = e.what();
    CHECK(msg.rfind("scenario.toml:", 0) == 0);
    CHECK(msg.find("\"deepep_fast\"") != std::string::npos);
    CHECK(msg.find("deepep_ll, deepep_normal, hybrid_ep, nccl, nccl_pxn, pplx") != std::string::npos);
  }
  const EpKernel ll = EpKernel::from_profile(p, "deepep_ll", "x");
  CHECK(ll.mode() == EpMode::low_latency);
  CHECK(ll.params.dispatch_fixed_us == 10.0);
  CHECK(ll.params.efficiency_scaleout == 0.9);

  const Profile bare;  // no [ep_kernel.*]: "nccl" is still there
  const EpKernel n = EpKernel::from_profile(bare, "nccl", "x");
  CHECK(n.mode() == EpMode::nccl);
  CHECK(n.params == EpKernelParams{});
  CHECK(bare.ep_kernel_names() == std::vector<std::string>{"nccl"});
  CHECK_THROWS_WITH(EpKernel::from_profile(bare, "pplx", "x"), Catch::Contains("(it has: nccl)"));
}

TEST_CASE("a flow's messages occupy its first link for message_ns each", "[comm]") {
  Topology t("pair");  // two GPUs, one duplex 100 GB/s link of 1000 ns
  const int a = t.add_node(TopoNode{"g0", NodeKind::gpu, 0, 0, 0});
  const int b = t.add_node(TopoNode{"g1", NodeKind::gpu, 1, 0, 0});
  t.add_duplex(a, b, Bandwidth::from_GBps(100.0), 1000.0, "nvlink");
  t.finalize();
  MessageCost cost;
  cost.message_ns[0] = 50;
  cost.message_ns[1] = 50;
  for (const auto model : {NetworkModelKind::analytic, NetworkModelKind::flow}) {
    INFO("model " << static_cast<int>(model));
    std::vector<TimePs> done;
    for (const std::int64_t messages : {std::int64_t{0}, std::int64_t{1000}}) {
      EventQueue q;
      auto net = make_network(model, q, t, cost);
      const std::int64_t id = net->declare({FlowDecl{0, 1, Bytes(1e6), messages}}, 1);
      TimePs at = -1;
      q.schedule(0, [&] { net->start(id, [&](TimePs x) { at = x; }); });
      q.run();
      done.push_back(at);
    }
    CHECK(done[0] == 11'000'000);  // 1e6 B / 100 GB/s + 1000 ns
    // 1000 messages x 50 ns = 50 us more.
    CHECK(std::llabs(done[1] - done[0] - 50'000'000) <= 1);
  }
}

TEST_CASE("comm benchmark: flow and analytic models agree for every mode", "[comm]") {
  const Profile profile = h100();
  EpKernelParams os_params;
  os_params.mode = EpMode::one_sided;
  os_params.dispatch_fixed_us = 5;
  os_params.combine_fixed_us = 5;
  os_params.efficiency_nvlink = 0.8;
  os_params.message_nvlink_ns = 2;
  struct Case {
    EpKernel kernel;
    Topology topology;
  };
  std::vector<Case> cases;
  for (const char* name : {"nccl", "deepep_normal", "deepep_ll"})
    cases.push_back({EpKernel::from_profile(profile, name, "test"), hgx(2, 4)});
  cases.push_back({EpKernel{"os", os_params}, hgx(1, 8)});

  CommBenchSpec spec;
  spec.ep = 8;
  spec.tokens = 64;
  spec.top_k = 2;
  spec.experts = 16;
  spec.dispatch_bytes = 7168;
  spec.combine_bytes = 14336;
  for (const Case& c : cases) {
    INFO("kernel " << c.kernel.name);
    spec.network = NetworkModelKind::flow;
    const CommBenchResult flow = run_comm_benchmark(c.topology, profile, c.kernel, spec);
    spec.network = NetworkModelKind::analytic;
    const CommBenchResult analytic = run_comm_benchmark(c.topology, profile, c.kernel, spec);
    CHECK(flow.mode == c.kernel.mode());
    CHECK(flow.domains == (c.kernel.mode() == EpMode::one_sided ? 1 : 2));
    CHECK(flow.ep == 8);
    CHECK(flow.tokens == 64);
    CHECK(flow.pair_copies == 128);  // 64 tokens x top-2 (token, expert) messages
    CHECK(flow.dispatch.done_ps.size() == 8);
    CHECK(flow.dispatch.mean_us > us_from_ps(c.kernel.fixed_ps(false, EpLayout(c.topology, 8))));
    CHECK(flow.combine.mean_us > us_from_ps(c.kernel.fixed_ps(true, EpLayout(c.topology, 8))));
    CHECK(flow.flows == analytic.flows);
    CHECK(analytic.dispatch.mean_us == Approx(flow.dispatch.mean_us).epsilon(0.01));
    CHECK(analytic.combine.mean_us == Approx(flow.combine.mean_us).epsilon(0.01));
  }

  const Topology two = hgx(2, 4);
  const EpKernel nccl = EpKernel::from_profile(profile, "nccl", "test");
  CommBenchSpec bad = spec;
  bad.experts = 12;  // not a multiple of ep = 8
  CHECK_THROWS_AS(run_comm_benchmark(two, profile, nccl, bad), InputError);
  bad = spec;
  bad.ep = 16;  // the topology has 8 GPUs
  CHECK_THROWS_AS(run_comm_benchmark(two, profile, nccl, bad), InputError);
  CHECK_THROWS_AS(run_comm_benchmark(two, profile, EpKernel{"os", os_params}, spec), InputError);
}

TEST_CASE("nccl with PXN: a cross-node copy goes over NVLink to the destination's rail, then RDMA", "[comm]") {
  const Topology t = hgx(2, 4);
  const EpLayout layout(t, 8);
  LayerTraffic tr = zero_traffic(8, 2);
  set_copies(tr, 0, 6, 1);  // GPU 0 (rank 0, node 0) -> GPU 6 (rank 2, node 1): relay GPU 2
  set_copies(tr, 1, 6, 2);  // GPU 1 -> GPU 6: the same relay
  set_copies(tr, 2, 6, 1);  // GPU 2 is on GPU 6's rail: straight over RDMA
  set_copies(tr, 0, 2, 3);  // and an NVLink copy of its own to the relay
  CollectivePlan p;
  plan_collective(EpMode::nccl, false, layout, tr, 100.0, p, true);
  REQUIRE(p.flows.size() == 3);
  check_flow(p, 0, 0, 2, 400, 0, {2, 6});  // 3 own copies for GPU 2, 1 relayed for GPU 6
  check_flow(p, 1, 1, 2, 200, 0, {6});
  check_flow(p, 2, 2, 6, 400, 0, {6});  // node 0's 4 copies for GPU 6, one RDMA flow
  REQUIRE(p.awaited[6] == 3);
  REQUIRE(p.awaited[2] == 1);
  // Without PXN: one direct flow per pair.
  plan_collective(EpMode::nccl, false, layout, tr, 100.0, p, false);
  REQUIRE(p.flows.size() == 4);
  // Combine mirrors it: GPU 6 returns through the relay on its rail in node 0... its own domain
  // peer with GPU 0's rank (GPU 4), then RDMA to GPU 0.
  plan_collective(EpMode::nccl, true, layout, tr, 100.0, p, true);
  std::set<std::pair<int, int>> pairs;
  for (const FlowDecl& f : p.flows) pairs.insert({f.src_gpu, f.dst_gpu});
  REQUIRE(pairs == std::set<std::pair<int, int>>{{2, 0}, {6, 2}, {6, 4}, {6, 5}, {4, 0}, {5, 1}});
}
