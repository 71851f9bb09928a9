// Critical-path attribution: a slow GPU is named the straggler; the link that bounds a scale-out
// step is named the bottleneck, and its busy fraction and peak show what its time average hides.
#include <catch2/catch.hpp>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "app/scenario_run.hpp"
#include "core/event_queue.hpp"
#include "io/scenario_loader.hpp"
#include "net/network.hpp"
#include "report/metrics.hpp"
#include "smoke_fixture.hpp"
#include "test_util.hpp"

using namespace moesim;
using test::smoke_text;

namespace {

// g0 -> g1 over one 100 GB/s link, no latency.
Topology pair() {
  Topology t("pair");
  const int g0 = t.add_node(TopoNode{"g0", NodeKind::gpu, -1, 0, 0});
  const int g1 = t.add_node(TopoNode{"g1", NodeKind::gpu, -1, 1, 0});
  t.add_duplex(g0, g1, Bandwidth::from_GBps(100.0), 0.0, "nvlink");
  t.finalize();
  return t;
}

}  // namespace

TEST_CASE("link activity: busy time, peak over a window and the bounding link of a flow", "[critical]") {
  for (NetworkModelKind model : {NetworkModelKind::flow, NetworkModelKind::analytic}) {
    const Topology t = pair();
    EventQueue q;
    auto net = make_network(model, q, t, MessageCost{});
    // 5e5 B at 100 GB/s: 5 us on the link, half of one 10 us window; then 2 us idle and a second
    // flow of 5e5 B (declared apart: the analytic model times a declaration's flows as starting
    // together): busy 10 us of 12, and the first window holds 5 + 3 us of it (80%).
    const auto id = net->declare({{0, 1, Bytes(5e5)}}, 1);
    net->start(id, [&](TimePs) {});
    q.run();
    q.schedule(7'000'000, [&] { net->start(net->declare({{0, 1, Bytes(5e5)}}, 2), [&](TimePs) {}); });
    q.run();
    const int link = net->path_of(id)[0];
    REQUIRE(net->bottleneck_of(id) == link);
    const LinkActivity a = net->link_activity()[static_cast<std::size_t>(link)];
    CHECK(a.busy_ps == 10'000'000);
    CHECK(a.peak_occupancy == Approx(0.8));  // window 0: 5 us + 3 us of the second flow
    const LinkActivity back = net->link_activity()[static_cast<std::size_t>(1 - link)];
    CHECK(back.busy_ps == 0);
    CHECK(back.peak_occupancy == 0);
  }
}

TEST_CASE("a slow GPU is named the straggler, in the summary and per layer", "[critical]") {
  // Uniform routing, so no GPU is hot by load; GPU 5's kernels take 1.3x as long.
  const auto dir = test::scratch_dir("straggler");
  const std::string path = test::write_file(
      dir, "slow.toml", smoke_text() + "[[faults]]\nkind = \"slow_gpu\"\ngpu = 5\ncompute_factor = 1.3\n");
  for (const char* model : {"network.model=flow", "network.model=analytic"}) {
    const ScenarioRun run = run_scenario(io::load_scenario(path, {"gate.kind=uniform", model}));
    const Summary& s = run.summary;
    CHECK(s.straggler_gpu == 5);
    CHECK(s.hottest_gpu != 5);  // the busiest GPU by load is another one
    CHECK(s.straggler_share > 0.5);
    CHECK(!s.straggler_phase.empty());
    CHECK(s.straggler_phase != "stream_wait");
    for (const LayerResult& l : run.results.layers) {
      const auto hot = std::max_element(l.critical_gpu_ps.begin(), l.critical_gpu_ps.end());
      CHECK(hot - l.critical_gpu_ps.begin() == 5);
    }
  }
}

TEST_CASE("the NIC that bounds a four-node step is the bottleneck link, its peak is far above its average",
          "[critical]") {
  const auto dir = test::scratch_dir("bottleneck");
  std::string text = smoke_text();
  text.replace(text.find("hgx-h100.toml"), 13, "hgx-h100-x4-ib.toml");
  const std::string path = test::write_file(dir, "four.toml", text);
  for (const char* model : {"network.model=flow", "network.model=analytic"}) {
    // Every step's link activity recorded, so busy time and bytes cover the same time.
    const ScenarioRun run =
        run_scenario(io::load_scenario(path, {model, "workload.tokens_per_gpu=256", "output.link_activity_steps=3"}));
    REQUIRE(run.results.link_activity_ps == run.results.total_ps);
    const Summary& s = run.summary;
    INFO(model << ": bottleneck " << s.bottleneck_link << " [" << s.bottleneck_link_class << "]");
    CHECK(s.bottleneck_link_class == "nic");
    CHECK(s.bottleneck_link_share > 0.05);
    CHECK(s.bottleneck_link_class_share > 0.3);
    // A link that bounds the step is near full while it carries flows, so its busy fraction is
    // about its time average over the efficiency; the 10 us peak shows it full.
    CHECK(s.bottleneck_link_busy_fraction > s.bottleneck_link_utilization);
    CHECK(s.bottleneck_link_peak_utilization > 3 * s.bottleneck_link_utilization);
    CHECK(s.bottleneck_link_peak_utilization > 0.9);
    CHECK(s.bottleneck_link_peak_utilization <= 1.0);
    for (const LinkResult& l : run.results.links) {
      CHECK(l.busy_ps <= run.results.total_ps);
      CHECK(link_busy_fraction(l, run.results.total_ps) + 1e-6 >= link_utilization(l, run.results.total_ps));
    }
    // The default records the first step only: busy time within that step's time.
    const ScenarioRun first = run_scenario(io::load_scenario(path, {model, "workload.tokens_per_gpu=256"}));
    CHECK(first.results.link_activity_ps == first.results.steps.front().end_ps - first.results.steps.front().start_ps);
    for (const LinkResult& l : first.results.links) CHECK(l.busy_ps <= first.results.link_activity_ps);
  }
}
