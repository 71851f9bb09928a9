// Cross-check of moesim's max-min flow model against SimGrid (CM02 configured as plain max-min):
// each case's flows (simgrid_cases.hpp) run through SimGrid and through moesim's FlowModel in
// exact mode (re-solve tolerance 0) and at the default tolerance. Per flow, the time from its
// start to its last byte leaving the fluid system (moesim's path latency subtracted; SimGrid's
// links have none) is compared with SimGrid's. Prints per case and model: flows, makespan, its
// relative error, the max and p99 per-flow relative error, CPU seconds, and SimGrid's CPU seconds
// over the model's. Exits 1 when exact mode is off by more than 1e-4 on any flow.
// --simgrid-cache DIR keeps SimGrid's results per case in DIR/<case>.simgrid and reuses them while
// the case's input is unchanged (its CPU seconds are then those of the run that stored them).
// --jobs N splits a case into epochs that do not overlap in time (by moesim's exact result; checked
// with SimGrid's) and runs up to N of them at once, each in a SimGrid process of its own.
// Usage: bench_simgrid_check [--quick] [--only NAME] [--tolerance EPS] [--jobs N]
//                            [--simgrid-cache DIR] [--source-dir DIR]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_util.hpp"
#include "core/error.hpp"
#include "net/flow_model.hpp"
#include "simgrid_cases.hpp"
#include "simgrid_runner.hpp"
#include "spec/scenario.hpp"

#ifndef MOESIM_SOURCE_DIR
#define MOESIM_SOURCE_DIR "."
#endif

namespace {

using moesim::TimePs;
using moesim::bench::FlowRecord;
using moesim::bench::FlowSet;

constexpr double kExactLimit = 1e-4;

std::size_t flow_count(const FlowRecord& rec) {
  std::size_t n = 0;
  for (const FlowRecord::Batch& b : rec.batches) n += b.flows.size();
  return n;
}

class TimeSink final : public moesim::DeliverySink {
 public:
  explicit TimeSink(std::vector<TimePs>& done) : done_(done) {}
  void delivered(std::int64_t flow_id, std::uint64_t /*tag*/, TimePs at_ps) override {
    done_[static_cast<std::size_t>(flow_id)] = at_ps;
  }

 private:
  std::vector<TimePs>& done_;
};

struct ModelRun {
  std::vector<TimePs> done_ps;  // per flow id: delivery (path latency included)
  double cpu_s = 0;
  std::uint64_t solves = 0;
};

// Replays the record open loop through a FlowModel without message costs (as replay_flows in
// flow_replay.cpp, keeping every flow's delivery time).
ModelRun run_model(const FlowSet& set, double tolerance) {
  ModelRun r;
  r.done_ps.assign(flow_count(set.record), -1);
  moesim::EventQueue queue;
  moesim::FlowModel net(queue, set.topology, moesim::MessageCost{}, tolerance);
  TimeSink sink(r.done_ps);
  net.set_sink(&sink);
  const auto& ops = set.record.ops;
  std::size_t next = 0;
  std::function<void()> step = [&] {
    const TimePs now = queue.now_ps();
    while (next < ops.size() && ops[next].at_ps == now) {
      const FlowRecord::Op& op = ops[next++];
      if (op.kind == FlowRecord::Kind::declare) {
        const FlowRecord::Batch& b = set.record.batches[static_cast<std::size_t>(op.arg)];
        net.declare(b.flows, b.salt, b.size_by_src);
      } else if (op.kind == FlowRecord::Kind::start) {
        net.start(op.arg, 0);
      }
    }
    if (next < ops.size()) queue.schedule(ops[next].at_ps, [&] { step(); });
  };
  const double cpu0 = moesim::bench::cpu_seconds();
  if (!ops.empty()) queue.schedule(ops.front().at_ps, [&] { step(); });
  queue.run();
  r.cpu_s = moesim::bench::cpu_seconds() - cpu0;
  r.solves = net.rate_solves();
  return r;
}

// The SimGrid input: moesim's links, the route moesim gives each flow (its ECMP choice, taken
// from a network that declares the same batches), flows with their start times.
struct Translated {
  moesim::bench::SgInput input;
  std::vector<TimePs> latency_ps;  // per flow: its route's latency, which moesim adds
};

Translated translate(const FlowSet& set) {
  Translated t;
  const moesim::Topology& topo = set.topology;
  for (const moesim::Link& l : topo.links()) t.input.link_GBps.push_back(l.bandwidth.GBps());
  moesim::EventQueue queue;
  moesim::FlowModel net(queue, topo, moesim::MessageCost{}, 0);
  std::vector<const moesim::FlowDecl*> decls;
  for (const FlowRecord::Op& op : set.record.ops) {
    if (op.kind != FlowRecord::Kind::declare) continue;
    const FlowRecord::Batch& b = set.record.batches[static_cast<std::size_t>(op.arg)];
    net.declare(b.flows, b.salt, b.size_by_src);
    for (const moesim::FlowDecl& f : b.flows) decls.push_back(&f);
  }
  const auto gpus = static_cast<std::size_t>(topo.gpu_count());
  std::unordered_map<std::size_t, std::vector<std::uint32_t>> pair_routes;  // src * G + dst -> routes
  std::vector<TimePs> route_latency_ps;
  t.input.flows.resize(decls.size());
  t.latency_ps.resize(decls.size());
  for (std::size_t id = 0; id < decls.size(); ++id) {
    const moesim::FlowDecl& f = *decls[id];
    const auto links = net.path_of(static_cast<std::int64_t>(id));
    auto& known = pair_routes[static_cast<std::size_t>(f.src_gpu) * gpus + static_cast<std::size_t>(f.dst_gpu)];
    std::uint32_t route = 0;
    const auto same = std::find_if(known.begin(), known.end(), [&](std::uint32_t r) {
      const auto& l = t.input.routes[r].links;
      return std::equal(l.begin(), l.end(), links.begin(), links.end());
    });
    if (same != known.end()) {
      route = *same;
    } else {
      route = static_cast<std::uint32_t>(t.input.routes.size());
      moesim::bench::SgRoute r{f.src_gpu, f.dst_gpu, static_cast<int>(known.size()), {links.begin(), links.end()}};
      route_latency_ps.push_back(moesim::ps_from_ns(topo.path_latency_ns(r.links)));
      t.input.routes.push_back(std::move(r));
      known.push_back(route);
    }
    t.input.flows[id] = {route, static_cast<std::uint64_t>(std::llround(f.bytes.count())), -1.0};
    t.latency_ps[id] = route_latency_ps[route];
  }
  for (const FlowRecord::Op& op : set.record.ops)
    if (op.kind == FlowRecord::Kind::start)
      t.input.flows[static_cast<std::size_t>(op.arg)].start_ps = static_cast<double>(op.at_ps);
  for (const auto& f : t.input.flows)
    if (f.start_ps < 0) throw moesim::Error("simgrid_check: " + set.name + ": a declared flow never starts");
  return t;
}

struct Errors {
  double makespan_ps = 0;
  double max = 0;
  double p99 = 0;
};

// Per-flow relative error of the time from start to the fluid system's last byte.
Errors compare(const Translated& t, const std::vector<double>& model_finish_ps,
               const std::vector<double>& reference_finish_ps) {
  Errors e;
  std::vector<double> err(model_finish_ps.size());
  for (std::size_t i = 0; i < err.size(); ++i) {
    const double start = t.input.flows[i].start_ps;
    const double ref = reference_finish_ps[i] - start;
    err[i] = std::abs((model_finish_ps[i] - start) - ref) / std::max(ref, 1.0);
    e.makespan_ps = std::max(e.makespan_ps, model_finish_ps[i]);
  }
  if (!err.empty()) {
    e.max = *std::max_element(err.begin(), err.end());
    const std::size_t k = std::min(err.size() - 1, static_cast<std::size_t>(0.99 * static_cast<double>(err.size())));
    std::nth_element(err.begin(), err.begin() + static_cast<std::ptrdiff_t>(k), err.end());
    e.p99 = err[k];
  }
  return e;
}

// Moesim's fluid finish times: deliveries less the path latency.
std::vector<double> fluid_finish(const FlowSet& set, const Translated& t, const ModelRun& m) {
  std::vector<double> fluid(m.done_ps.size());
  for (std::size_t i = 0; i < fluid.size(); ++i) {
    if (m.done_ps[i] < 0) throw moesim::Error("simgrid_check: " + set.name + ": moesim never delivered a flow");
    fluid[i] = static_cast<double>(m.done_ps[i] - t.latency_ps[i]);
  }
  return fluid;
}

// Splits the flows into epochs that do not overlap in time by moesim's exact finish times (a
// decode step's collectives are apart: compute runs between them), so that SimGrid can run each
// on its own; check_epochs verifies the split with SimGrid's own finish times.
std::vector<std::vector<std::uint32_t>> epochs(const Translated& t, const std::vector<double>& finish_ps) {
  std::vector<std::uint32_t> order(t.input.flows.size());
  for (std::uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    return t.input.flows[a].start_ps < t.input.flows[b].start_ps;
  });
  constexpr double kGapPs = 1000;  // a margin far above the two models' differences
  std::vector<std::vector<std::uint32_t>> groups;
  double last_finish = -1e300;
  for (std::uint32_t i : order) {
    if (groups.empty() || t.input.flows[i].start_ps > last_finish + kGapPs) groups.emplace_back();
    groups.back().push_back(i);
    last_finish = std::max(last_finish, finish_ps[i]);
  }
  return groups;
}

void check_epochs(const std::string& name, const Translated& t, const std::vector<double>& sg_finish_ps) {
  double last_finish = -1e300;
  for (const auto& group : t.input.groups) {
    for (std::uint32_t i : group)
      if (t.input.flows[i].start_ps < last_finish)
        throw moesim::Error("simgrid_check: " + name + ": SimGrid's epochs overlap; run without --jobs");
    for (std::uint32_t i : group) last_finish = std::max(last_finish, sg_finish_ps[i]);
  }
}

// True when exact mode passes.
bool check(const FlowSet& set, double tolerance, const std::string& cache_dir, int jobs) {
  Translated t = translate(set);
  const ModelRun exact = run_model(set, 0);
  if (jobs > 1) {
    t.input.groups = epochs(t, fluid_finish(set, t, exact));
    t.input.jobs = jobs;
  }
  bool cached = false;
  const moesim::bench::SgResult sg = moesim::bench::run_simgrid_cached(
      t.input, cache_dir.empty() ? "" : cache_dir + "/" + set.name + ".simgrid", cached);
  if (!cached) check_epochs(set.name, t, sg.finish_ps);
  const Errors ref = compare(t, sg.finish_ps, sg.finish_ps);
  std::printf("%-18s %-12s %8zu %12.4f %10s %10s %10s %9.3f %8s\n", set.name.c_str(), cached ? "simgrid(c)" : "simgrid",
              t.input.flows.size(), ref.makespan_ps * 1e-6, "-", "-", "-", sg.cpu_s, "-");
  bool ok = true;
  for (const double eps : {0.0, tolerance}) {
    const ModelRun m = eps == 0 ? exact : run_model(set, eps);
    const std::vector<double> fluid = fluid_finish(set, t, m);
    const Errors e = compare(t, fluid, sg.finish_ps);
    const std::string model = eps == 0 ? "moesim-exact" : "moesim-" + std::to_string(eps).substr(0, 4);
    std::printf("%-18s %-12s %8zu %12.4f %10.2e %10.2e %10.2e %9.3f %8.1f\n", set.name.c_str(), model.c_str(),
                fluid.size(), e.makespan_ps * 1e-6, std::abs(e.makespan_ps - ref.makespan_ps) / ref.makespan_ps, e.max,
                e.p99, m.cpu_s, sg.cpu_s / m.cpu_s);
    if (eps == 0 && !(e.max <= kExactLimit)) {
      std::fprintf(stderr, "simgrid_check: %s: exact mode off by %.3g (limit %.0e)\n", set.name.c_str(), e.max,
                   kExactLimit);
      ok = false;
    }
  }
  std::fflush(stdout);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::string only, cache_dir, source_dir = MOESIM_SOURCE_DIR;
  int jobs = 1;
  bool quick = false;
  double tolerance = moesim::Scenario{}.resolve_tolerance;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench_simgrid_check: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--quick")
      quick = true;
    else if (a == "--only")
      only = value();
    else if (a == "--tolerance")
      tolerance = std::atof(value().c_str());
    else if (a == "--jobs")
      jobs = std::atoi(value().c_str());
    else if (a == "--simgrid-cache")
      cache_dir = value();
    else if (a == "--source-dir")
      source_dir = value();
    else {
      std::fprintf(
          stderr,
          "usage: %s [--quick] [--only NAME] [--tolerance EPS] [--jobs N] [--simgrid-cache DIR] [--source-dir DIR]\n",
          argv[0]);
      return 2;
    }
  }
  if (!(tolerance > 0 && tolerance < 1)) {
    std::fprintf(stderr, "bench_simgrid_check: --tolerance needs a value in (0, 1)\n");
    return 2;
  }
  try {
    std::printf("%-18s %-12s %8s %12s %10s %10s %10s %9s %8s\n", "case", "model", "flows", "makespan_us",
                "makespan_err", "max_err", "p99_err", "cpu_s", "sg/cpu");
    bool ok = true, any = false;
    for (const std::string& name : moesim::bench::flow_set_names(quick && only.empty())) {
      if (!only.empty() && name != only) continue;
      any = true;
      ok = check(moesim::bench::make_flow_set(name, source_dir), tolerance, cache_dir, jobs) && ok;
    }
    if (!any) {
      std::fprintf(stderr, "bench_simgrid_check: unknown case %s\n", only.c_str());
      return 2;
    }
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_simgrid_check: %s\n", e.what());
    return 1;
  }
}
