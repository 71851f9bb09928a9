// Closed-form network cases for the fluid FlowModel and the analytic model, the heap helpers and ceil_ps.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/event_queue.hpp"
#include "core/min_heap.hpp"
#include "max_min_reference.hpp"
#include "net/analytic_network.hpp"
#include "net/flow_model.hpp"

using namespace moesim;

namespace {

// Two GPUs joined by one duplex link of 100 GB/s and 1000 ns.
Topology two_gpus() {
  Topology t("pair");
  const int a = t.add_node(TopoNode{"g0", NodeKind::gpu, -1, 0, 0});
  const int b = t.add_node(TopoNode{"g1", NodeKind::gpu, -1, 1, 0});
  t.add_duplex(a, b, Bandwidth::from_GBps(100.0), 1000.0, "nvlink");
  t.finalize();
  return t;
}

// n GPUs on one non-blocking switch, ports of 100 GB/s and 500 ns per direction.
Topology star(int n) {
  Topology t("star");
  const int sw = t.add_node(TopoNode{"sw", NodeKind::nvswitch, -1, -1, -1});
  for (int i = 0; i < n; ++i) {
    const int g = t.add_node(TopoNode{"g" + std::to_string(i), NodeKind::gpu, -1, i, 0});
    t.add_duplex(g, sw, Bandwidth::from_GBps(100.0), 500.0, "nvlink");
  }
  t.finalize();
  return t;
}

// Runs the flows (start time, declaration) and returns each delivery time.
std::vector<TimePs> run_flows(const std::string& mode, const Topology& topo, const std::vector<FlowDecl>& flows,
                              const std::vector<TimePs>& starts, double resolve_tolerance = 0,
                              std::uint64_t* solves = nullptr) {
  EventQueue q;
  auto net = make_network(*parse_setting<NetworkModelKind>(mode), q, topo, MessageCost{}, resolve_tolerance);
  const std::int64_t first = net->declare(flows, 7);
  std::vector<TimePs> done(flows.size(), -1);
  for (std::size_t i = 0; i < flows.size(); ++i)
    q.schedule(starts[i],
               [&, i] { net->start(first + static_cast<std::int64_t>(i), [&, i](TimePs t) { done[i] = t; }); });
  q.run();
  if (solves) *solves = net->rate_solves();
  return done;
}

}  // namespace

TEST_CASE("one flow on one link takes latency + bytes / bandwidth", "[net]") {
  const Topology t = two_gpus();
  for (const std::string mode : {"flow", "analytic"}) {
    // 1e6 B / 100 GB/s = 10 us; + 1000 ns link latency = 11 us = 11'000'000 ps.
    auto done = run_flows(mode, t, {{0, 1, Bytes(1e6)}}, {0});
    REQUIRE(done[0] == 11'000'000);
  }
}

TEST_CASE("a background load leaves a flow what its route's most-loaded link has left", "[net]") {
  const Topology t = star(3);
  for (const std::string mode : {"flow", "analytic"}) {
    EventQueue q;
    auto net = make_network(*parse_setting<NetworkModelKind>(mode), q, t, MessageCost{}, 0);
    // Links: g0 -> sw is link 0 (add_duplex: out then back), g1's up link 2, sw -> g1 link 3.
    std::vector<double> taken(static_cast<std::size_t>(t.link_count()), 0);
    taken[0] = 0.25;
    taken[3] = 0.5;
    net->set_background_load(taken);
    const std::int64_t id = net->declare({{0, 1, Bytes(1e6)}}, 7);
    TimePs done = -1;
    net->start(id, [&](TimePs at) { done = at; });
    q.run();
    // 1e6 B at half of 100 GB/s = 20 us, + 2 x 500 ns.
    REQUIRE(done == 21'000'000);
  }
}

TEST_CASE("declaring a flow to the same GPU, or to a GPU that does not exist, is an error", "[net]") {
  const Topology t = two_gpus();
  for (const std::string mode : {"flow", "analytic"}) {
    EventQueue q;
    auto net = make_network(*parse_setting<NetworkModelKind>(mode), q, t, MessageCost{});
    REQUIRE_THROWS_WITH(net->declare({{0, 0, Bytes(1e6)}}, 1), Catch::Contains("itself"));
    REQUIRE_THROWS_WITH(net->declare({{0, 2, Bytes(1e6)}}, 1), Catch::Contains("do not exist"));
    REQUIRE_THROWS_WITH(net->declare({{-1, 1, Bytes(1e6)}}, 1), Catch::Contains("do not exist"));
    REQUIRE(net->declare({{0, 1, Bytes(1e6)}}, 1) == 0);  // nothing half-declared before
  }
}

TEST_CASE("n flows sharing a link get bandwidth / n each", "[net]") {
  const Topology t = two_gpus();
  // 4 flows of 1e6 B share 100 GB/s: 25 GB/s each, so all finish at 4e6 B / 100 GB/s = 40 us,
  // delivered 1 us later: 41 us.
  std::vector<FlowDecl> flows(4, FlowDecl{0, 1, Bytes(1e6)});
  for (const std::string mode : {"flow", "analytic"}) {
    auto done = run_flows(mode, t, flows, {0, 0, 0, 0});
    for (TimePs d : done) REQUIRE(d == 41'000'000);
  }
}

TEST_CASE("two staggered flows finish at hand-computed times", "[net]") {
  const Topology t = two_gpus();
  // A (1e6 B) starts at 0, B (1e6 B) at 5 us. A alone sends 5e5 B by 5 us; then both get 50 GB/s:
  // A's remaining 5e5 B take 10 us -> A leaves at 15 us. B has sent 5e5 B by then and finishes
  // its other 5e5 B alone at 100 GB/s in 5 us -> 20 us. Add 1 us latency: 16 us and 21 us.
  auto done = run_flows("flow", t, {{0, 1, Bytes(1e6)}, {0, 1, Bytes(1e6)}}, {0, 5'000'000});
  REQUIRE(done[0] == 16'000'000);
  REQUIRE(done[1] == 21'000'000);
}

TEST_CASE("flows in opposite directions do not share bandwidth", "[net]") {
  const Topology t = two_gpus();
  // Each direction is its own 100 GB/s link: both take 10 us + 1 us.
  auto done = run_flows("flow", t, {{0, 1, Bytes(1e6)}, {1, 0, Bytes(1e6)}}, {0, 0});
  REQUIRE(done[0] == 11'000'000);
  REQUIRE(done[1] == 11'000'000);
}

TEST_CASE("uniform all-to-all on a non-blocking switch", "[net]") {
  const int n = 8;
  const Topology t = star(n);
  std::vector<FlowDecl> flows;
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d)
      if (s != d) flows.push_back({s, d, Bytes(1e6)});
  // Each GPU's 100 GB/s uplink carries its (n-1) flows: (n-1) x 1e6 B / 100 GB/s = 7 x 10 us =
  // 70 us; the path is two 500 ns links: + 1 us = 71 us.
  for (const std::string mode : {"flow", "analytic"}) {
    auto done = run_flows(mode, t, flows, std::vector<TimePs>(flows.size(), 0));
    for (TimePs d : done) REQUIRE(d == 71'000'000);
  }
}

TEST_CASE("message-size efficiency and per-message latency apply per flow", "[net]") {
  const Topology t = two_gpus();
  EventQueue q;
  MessageCost cost;
  cost.alpha_ns[static_cast<std::size_t>(PathKind::nvlink)] = 2000;
  cost.efficiency = [](PathKind, Bytes) { return 0.5; };
  FlowModel net(q, t, cost);
  const auto id = net.declare({{0, 1, Bytes(1e6)}}, 1);
  TimePs done = -1;
  net.start(id, [&](TimePs at) { done = at; });
  q.run();
  // At 50% efficiency 1e6 B move like 2e6 B: 20 us; + 1 us link latency + 2 us alpha = 23 us.
  REQUIRE(done == 23'000'000);
  REQUIRE(net.link_bytes()[0].count() == Approx(1e6));  // links carry the real bytes
}

TEST_CASE("a link's flows finish in size order at processor-sharing times, at any count", "[net]") {
  // n flows of sizes with many repeats share one link from time 0: the k-th smallest leaves once
  // the link has carried the k smaller flows plus the k-th size for each of the others. The
  // counts cover each way the model sorts the flows that join a link (a few, up to 128, more).
  const Topology t = two_gpus();
  for (const std::size_t n : {5U, 9U, 71U, 128U, 129U, 400U}) {
    std::vector<FlowDecl> flows;
    for (std::size_t i = 0; i < n; ++i)
      flows.push_back(FlowDecl{0, 1, Bytes(1e4 * static_cast<double>(1 + (i * 7919) % 37))});
    const std::vector<TimePs> got = run_flows("flow", t, flows, std::vector<TimePs>(n, 0));
    std::vector<double> sizes;
    for (const FlowDecl& f : flows) sizes.push_back(f.bytes.count());
    std::sort(sizes.begin(), sizes.end());
    for (std::size_t i = 0; i < n; ++i) {
      const double size = flows[i].bytes.count();
      const auto k = static_cast<std::size_t>(std::lower_bound(sizes.begin(), sizes.end(), size) - sizes.begin());
      double carried = size * static_cast<double>(n - k);
      for (std::size_t j = 0; j < k; ++j) carried += sizes[j];
      const double expect_ps = carried / Bandwidth::from_GBps(100.0).bytes_per_ps() + 1e6;  // + the 1 us link latency
      INFO("n " << n << ", flow " << i << " of " << size << " B");
      // Each completion rounds the next event up to a whole picosecond.
      REQUIRE(static_cast<double>(got[i]) == Approx(expect_ps).margin(static_cast<double>(n)));
    }
  }
}

TEST_CASE("flow model at tolerance 0 matches a textbook fluid simulation", "[net]") {
  // Ports of different speeds and random flows that start at random times, so bottlenecks move
  // between up- and downlinks as flows come and go: the per-link clocks must follow exactly.
  const int n = 6;
  Topology t("uneven-star");
  const int sw = t.add_node(TopoNode{"sw", NodeKind::nvswitch, -1, -1, -1});
  for (int i = 0; i < n; ++i) {
    const int g = t.add_node(TopoNode{"g" + std::to_string(i), NodeKind::gpu, -1, i, 0});
    t.add_duplex(g, sw, Bandwidth::from_GBps(50.0 + 20.0 * i), 500.0, "nvlink");
  }
  t.finalize();
  std::uint64_t x = 99;
  const auto next = [&](std::uint64_t m) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return (x >> 33) % m;
  };
  std::vector<FlowDecl> flows;
  std::vector<TimePs> starts;
  for (int i = 0; i < 60; ++i) {
    const int src = static_cast<int>(next(n));
    const int dst = (src + 1 + static_cast<int>(next(n - 1))) % n;
    flows.push_back(FlowDecl{src, dst, Bytes(1e4 * static_cast<double>(1 + next(100)))});
    starts.push_back(static_cast<TimePs>(next(20)) * 1'000'000);
  }
  const std::vector<TimePs> got = run_flows("flow", t, flows, starts);

  // The reference: exact max-min at every start and finish, in continuous time.
  EventQueue q;
  FlowModel paths(q, t, MessageCost{});
  const std::int64_t first = paths.declare(flows, 7);
  std::vector<double> cap;
  for (const Link& l : t.links()) cap.push_back(l.bandwidth.bytes_per_ps());
  std::vector<double> left;
  for (const FlowDecl& f : flows) left.push_back(f.bytes.count());
  std::vector<double> done(flows.size(), -1);
  std::vector<bool> started(flows.size(), false);
  double now = 0;
  for (;;) {
    for (std::size_t i = 0; i < flows.size(); ++i) started[i] = started[i] || static_cast<double>(starts[i]) <= now;
    std::vector<std::size_t> active;
    std::vector<std::vector<std::int32_t>> uses;
    for (std::size_t i = 0; i < flows.size(); ++i)
      if (started[i] && done[i] < 0) {
        active.push_back(i);
        const std::span<const std::int32_t> p = paths.path_of(first + static_cast<std::int64_t>(i));
        uses.emplace_back(p.begin(), p.end());
      }
    double next_start = 1e300;
    for (std::size_t i = 0; i < flows.size(); ++i)
      if (!started[i]) next_start = std::min(next_start, static_cast<double>(starts[i]));
    if (active.empty() && next_start == 1e300) break;
    const std::vector<double> rate = test::reference_max_min(cap, uses);
    double step = next_start - now;
    for (std::size_t a = 0; a < active.size(); ++a) step = std::min(step, left[active[a]] / rate[a]);
    now += step;
    for (std::size_t a = 0; a < active.size(); ++a) {
      const std::size_t i = active[a];
      left[i] -= rate[a] * step;
      if (left[i] <= 1e-6 * flows[i].bytes.count()) done[i] = now + 1'000'000;  // + two 500 ns hops
    }
  }
  for (std::size_t i = 0; i < flows.size(); ++i) {
    INFO("flow " << i << ": model " << got[i] << " ps, reference " << done[i] << " ps");
    // The model rounds each event up to a whole picosecond; a few dozen events may add up.
    REQUIRE(static_cast<double>(got[i]) == Approx(done[i]).margin(200));
  }
}

TEST_CASE("flow model: a re-solve tolerance stays close to exact max-min on a skewed all-to-all", "[net]") {
  // 32 GPUs on one switch, every pair a flow of a different size, senders starting 2 us apart:
  // the case where deferred re-solves matter most (completions spread out, starts overlapping).
  const int n = 32;
  const Topology t = star(n);
  std::vector<FlowDecl> flows;
  std::vector<TimePs> starts;
  for (int s = 0; s < n; ++s)
    for (int d = 0; d < n; ++d)
      if (s != d) {
        flows.push_back(FlowDecl{s, d, Bytes(1e5 * (1.0 + static_cast<double>((s * 7919 + d * 104729) % 97) / 10.0))});
        starts.push_back(static_cast<TimePs>(s) * 2'000'000);
      }
  std::uint64_t exact_solves = 0, fast_solves = 0;
  const auto exact = run_flows("flow", t, flows, starts, 0.0, &exact_solves);
  const auto fast = run_flows("flow", t, flows, starts, 0.05, &fast_solves);
  TimePs exact_last = 0, fast_last = 0;
  double mean_error = 0;
  for (std::size_t i = 0; i < flows.size(); ++i) {
    exact_last = std::max(exact_last, exact[i]);
    fast_last = std::max(fast_last, fast[i]);
    const double took = static_cast<double>(exact[i] - starts[i]);
    mean_error += std::abs(static_cast<double>(fast[i] - exact[i])) / took / static_cast<double>(flows.size());
  }
  INFO("exact " << exact_last << " ps in " << exact_solves << " solves; eps 0.05 " << fast_last << " ps in "
                << fast_solves << " solves; mean per-flow error " << mean_error);
  REQUIRE(static_cast<double>(fast_last) == Approx(static_cast<double>(exact_last)).epsilon(0.01));
  REQUIRE(mean_error < 0.03);
  REQUIRE(fast_solves * 5 < exact_solves);
}

TEST_CASE("min-heap helpers pop in sorted order, ties by a second key, across sizes", "[net]") {
  struct Item {
    double key;
    int id;
  };
  const auto less = [](const Item& a, const Item& b) { return (a.key < b.key) | ((a.key == b.key) & (a.id < b.id)); };
  std::uint64_t x = 99;
  const auto next = [&](std::uint64_t n) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<int>((x >> 33) % n);
  };
  for (int n = 0; n < 70; ++n) {
    std::vector<Item> items, heap;
    for (int i = 0; i < n; ++i) items.push_back(Item{static_cast<double>(next(8)), i});  // many ties
    heap = items;
    heap_make(heap, less);
    heap_push(heap, Item{3.0, n}, less);  // and one pushed after
    items.push_back(Item{3.0, n});
    std::sort(items.begin(), items.end(), less);
    for (const Item& want : items) {
      REQUIRE(!heap.empty());
      REQUIRE(heap.front().key == want.key);
      REQUIRE(heap.front().id == want.id);
      heap_pop(heap, less);
    }
    REQUIRE(heap.empty());
  }
}

TEST_CASE("ceil_ps rounds up to whole picoseconds exactly like std::ceil", "[net][units]") {
  const double cases[] = {0.0,
                          -0.0,
                          0.25,
                          1.0,
                          1.0000000001,
                          2.5,
                          -0.5,
                          -1.0,
                          -2.75,
                          1e15,
                          1e15 + 0.5,
                          123456789.000001,
                          4503599627370495.5,
                          2.0e18,
                          -2.0e18};  // beyond +-2^61 it saturates (test_time_limits.cpp)
  for (double x : cases) {
    INFO(x);
    CHECK(ceil_ps(x) == static_cast<TimePs>(std::ceil(x)));
  }
  // Times that come from rates: a quotient just above or at an integer.
  for (int i = 1; i < 2000; ++i) {
    const double x = static_cast<double>(i) * 1e3 / 3.0;
    CHECK(ceil_ps(x) == static_cast<TimePs>(std::ceil(x)));
    CHECK(transfer_ps(Bytes(static_cast<double>(i)), Bandwidth::from_GBps(0.3)) ==
          static_cast<TimePs>(std::ceil(static_cast<double>(i) * 1e3 / 0.3)));
  }
}
