// Communication-only benchmark (see comm_benchmark.hpp): the collective plans of comm/ replayed
// on a network model, one phase at a time.
#include "comm/comm_benchmark.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "comm/collective_plan.hpp"
#include "core/error.hpp"
#include "gpu/compute_model.hpp"
#include "moe/gate.hpp"
#include "moe/moe_layer.hpp"
#include "moe/placement.hpp"
#include "moe/trace_gate.hpp"
#include "net/network.hpp"

namespace moesim {

namespace {

void check_spec(const Topology& topology, const CommBenchSpec& s) {
  const auto fail = [](const std::string& what) { throw InputError("comm: " + what); };
  if (s.ep < 1 || s.ep > topology.gpu_count())
    fail(fmt::format("ep = {} but topology {} has {} GPUs", s.ep, topology.name(), topology.gpu_count()));
  if (s.tokens < 1 || s.tokens > (1 << 24)) fail(fmt::format("tokens = {} must be in [1, 2^24]", s.tokens));
  if (s.experts < 1 || s.experts % s.ep != 0)
    fail(fmt::format("experts = {} must be a positive multiple of ep = {}", s.experts, s.ep));
  if (s.top_k < 1 || s.top_k > s.experts) fail(fmt::format("top_k = {} must be in [1, experts]", s.top_k));
  if (s.dense && s.top_k != 1) fail("dense routing sends each token to one GPU: top_k must be 1");
  if (!(s.dispatch_bytes > 0) || !(s.combine_bytes > 0) || s.dispatch_bytes > 1e9 || s.combine_bytes > 1e9)
    fail("bytes per token copy must be in (0, 1e9] for dispatch and combine");
}

// Routing of one MoE layer: per GPU, tokens * top_k expert ids.
std::vector<std::vector<int>> route(const CommBenchSpec& s) {
  std::vector<std::vector<int>> ids(static_cast<std::size_t>(s.ep));
  const int per_gpu = s.experts / s.ep;
  if (s.dense) {
    for (int g = 0; g < s.ep; ++g)
      for (int t = 0; t < s.tokens; ++t) ids[static_cast<std::size_t>(g)].push_back((t % s.ep) * per_gpu);
    return ids;
  }
  std::unique_ptr<Gate> gate;
  if (!s.trace_path.empty())
    gate = std::make_unique<TraceGate>(s.trace_path, 1, s.experts, s.top_k, s.ep, 1);
  else
    gate = make_synthetic_gate(s.gate, s.experts, s.top_k, 1, s.seed, s.ep);
  for (int g = 0; g < s.ep; ++g) gate->assign(0, 0, g, s.tokens, ids[static_cast<std::size_t>(g)]);
  return ids;
}

// Records, per GPU, the latest landing among the flows it waits for.
class Landing final : public DeliverySink {
 public:
  explicit Landing(const CollectivePlan& plan) : plan_(plan), last_(static_cast<std::size_t>(plan.gpus()), 0) {}
  void delivered(std::int64_t flow_id, std::uint64_t, TimePs at_ps) override {
    plan_.for_each_waiter(static_cast<std::size_t>(flow_id - first_), [&](int w) {
      TimePs& t = last_[static_cast<std::size_t>(w)];
      t = std::max(t, at_ps);
    });
  }
  void set_first(std::int64_t first) { first_ = first; }
  const std::vector<TimePs>& last() const { return last_; }

 private:
  const CollectivePlan& plan_;
  std::vector<TimePs> last_;
  std::int64_t first_ = 0;
};

// `reduce_bytes` (combine): per GPU, the bytes its reduction streams once everything has landed.
CommPhaseResult run_phase(const Topology& topology, const Profile& profile, const EpKernel& kernel,
                          const EpLayout& layout, const CollectivePlan& plan, NetworkModelKind model, bool combine,
                          std::uint64_t& flows, const std::vector<double>& reduce_bytes = {}) {
  EventQueue queue;
  auto network = make_network(model, queue, topology, kernel.message_cost(profile));
  Landing landing(plan);
  network->set_sink(&landing);
  const TimePs fixed = kernel.fixed_ps(combine, layout);
  const std::int64_t first = network->declare(plan.flows, combine ? 2 : 1, plan.efficiency_size);
  landing.set_first(first);
  queue.schedule(fixed, [&] {
    for (std::size_t f = 0; f < plan.flows.size(); ++f) network->start(first + static_cast<std::int64_t>(f), 0);
  });
  queue.run();
  flows += network->flows_completed();

  CommPhaseResult r;
  const double sm_rate = kernel.sm_bytes_per_ps();
  double sum_us = 0;
  for (int g = 0; g < plan.gpus(); ++g) {
    const auto gi = static_cast<std::size_t>(g);
    TimePs done = std::max(fixed, landing.last()[gi]);
    done = std::max(done, fixed + hbm_copy_ps(profile, Bytes(plan.local_bytes[gi])));
    if (sm_rate > 0)  // the kernel's SMs push what the GPU sends and pull what it receives
      done = std::max(
          done, fixed + ceil_ps(std::max(plan.out_bytes[gi], plan.in_bytes[gi] + plan.local_bytes[gi]) / sm_rate));
    if (!reduce_bytes.empty()) done += hbm_stream_ps(profile, Bytes(reduce_bytes[gi]));
    r.done_ps.push_back(done);
    r.max_ps = std::max(r.max_ps, done);
    sum_us += us_from_ps(done);
  }
  r.mean_us = sum_us / plan.gpus();
  return r;
}

}  // namespace

CommBenchResult run_comm_benchmark(const Topology& topology, const Profile& profile, const EpKernel& kernel,
                                   const CommBenchSpec& spec) {
  check_spec(topology, spec);
  const EpLayout layout(topology, spec.ep);
  kernel.check_group(layout, "comm");
  const Placement placement = make_placement(PlacementKind::contiguous, 1, spec.experts, spec.ep);
  std::vector<int> hosts(static_cast<std::size_t>(spec.ep));
  for (int g = 0; g < spec.ep; ++g) hosts[static_cast<std::size_t>(g)] = topology.gpu_host(g);
  const auto ids = route(spec);

  // The kernel's own view, and the counts the libraries' bandwidths are defined by.
  const bool dedup = mode_dedups(kernel.mode(), true);
  const MoeLayerPlanner planner(placement, hosts, dedup, layout.gpu_domain());
  LayerTraffic traffic;
  planner.plan(0, ids, spec.top_k, traffic);
  LayerTraffic other;  // dedup's opposite, for the counts of the other kind
  MoeLayerPlanner(placement, hosts, !dedup).plan(0, ids, spec.top_k, other);
  const LayerTraffic& per_gpu = dedup ? traffic : other;
  const LayerTraffic& per_pair = dedup ? other : traffic;

  CommBenchResult r;
  r.mode = kernel.mode();
  r.domains = layout.domains();
  r.ep = spec.ep;
  r.dispatch_bytes = spec.dispatch_bytes;
  r.combine_bytes = spec.combine_bytes;
  const double n = spec.ep;
  for (int s = 0; s < spec.ep; ++s) {
    r.tokens += static_cast<double>(ids[static_cast<std::size_t>(s)].size()) / spec.top_k / n;
    for (int d = 0; d < spec.ep; ++d) {
      r.recv_copies += static_cast<double>(per_gpu.copies_from(s, d)) / n;
      r.pair_copies += static_cast<double>(per_pair.copies_from(s, d)) / n;
      r.send_copies += static_cast<double>(traffic.copies_from(s, d)) / n;
    }
    for (int b = 0; b < layout.domains(); ++b)
      r.domain_copies += static_cast<double>(traffic.domain_copies_from(s, b)) / n;
  }

  CollectivePlan plan;
  plan_collective(kernel.mode(), false, layout, traffic, spec.dispatch_bytes, plan, kernel.params.pxn);
  for (const FlowDecl& f : plan.flows)
    if (layout.domain(f.src_gpu) != layout.domain(f.dst_gpu)) r.scaleout_bytes += f.bytes.count() / n;
  r.dispatch = run_phase(topology, profile, kernel, layout, plan, spec.network, false, r.flows);
  plan_collective(kernel.mode(), true, layout, traffic, spec.combine_bytes, plan, kernel.params.pxn);
  // Combine ends with the reduction, as the published kernels' times do: every result a GPU
  // received (and kept locally) read once, one result per token written.
  std::vector<double> reduce_bytes(static_cast<std::size_t>(spec.ep));
  for (std::size_t g = 0; g < reduce_bytes.size(); ++g)
    reduce_bytes[g] =
        plan.in_bytes[g] + plan.local_bytes[g] + static_cast<double>(ids[g].size()) / spec.top_k * spec.combine_bytes;
  r.combine = run_phase(topology, profile, kernel, layout, plan, spec.network, true, r.flows, reduce_bytes);
  return r;
}

std::vector<std::string> comm_metric_names() {
  std::vector<std::string> names;
  for (const char* phase : {"dispatch", "combine"})
    for (const char* what : {"_us", "_max_us", "_nvl_GBps", "_rdma_GBps", "_ll_GBps", "_logical_GBps"})
      names.push_back(std::string(phase) + what);
  names.emplace_back("dispatch_scaleout_GBps");
  names.emplace_back("alltoall_algbw_GBps");
  names.emplace_back("alltoall_busbw_GBps");
  return names;
}

double comm_metric(const CommBenchResult& r, const std::string& name) {
  const bool combine = name.rfind("combine", 0) == 0;
  const CommPhaseResult& p = combine ? r.combine : r.dispatch;
  const double bytes = combine ? r.combine_bytes : r.dispatch_bytes;
  const auto sep = name.find('_');
  if (sep == std::string::npos) throw Error("comm: unknown metric \"" + name + "\"");
  const std::string what = name.substr(sep);
  if (name.rfind("alltoall", 0) == 0) {
    const double algbw = comm_GBps(r.send_copies, r.dispatch_bytes, r.dispatch.mean_us);
    return name == "alltoall_algbw_GBps" ? algbw : algbw * (r.ep - 1) / r.ep;
  }
  if (name == "dispatch_scaleout_GBps") return comm_GBps(r.scaleout_bytes, 1, r.dispatch.mean_us);
  if (what == "_us") return p.mean_us;
  if (what == "_max_us") return p.max_us();
  if (what == "_nvl_GBps") return comm_GBps(r.recv_copies, bytes, p.mean_us);
  if (what == "_rdma_GBps") return comm_GBps(r.domain_copies, bytes, p.mean_us);
  if (what == "_ll_GBps") return comm_GBps(r.pair_copies, bytes, p.mean_us);
  if (what == "_logical_GBps") return comm_GBps(r.tokens, bytes, p.mean_us);
  throw Error("comm: unknown metric \"" + name + "\"");
}

}  // namespace moesim
