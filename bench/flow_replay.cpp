// Recording and open-loop replay of a flow model's workload (see flow_replay.hpp).
#include "flow_replay.hpp"

#include <algorithm>
#include <functional>

#include "bench_util.hpp"

namespace moesim::bench {

void RecordingFlowModel::start(std::int64_t flow_id, std::uint64_t tag) {
  record_.ops.push_back({FlowRecord::Kind::start, queue_.now_ps(), flow_id});
  FlowModel::start(flow_id, tag);
}

void RecordingFlowModel::on_declared(const Declaration& d) {
  FlowRecord::Batch batch{d.salt, d.flows, {d.size_by_src.begin(), d.size_by_src.end()}};
  record_.ops.push_back(
      {FlowRecord::Kind::declare, queue_.now_ps(), static_cast<std::int64_t>(record_.batches.size())});
  record_.batches.push_back(std::move(batch));
}

void RecordingFlowModel::on_cleared() { record_.ops.push_back({FlowRecord::Kind::clear, queue_.now_ps(), 0}); }

namespace {
class CountingSink final : public DeliverySink {
 public:
  void delivered(std::int64_t /*flow_id*/, std::uint64_t /*tag*/, TimePs at_ps) override {
    ++count;
    last_ps = std::max(last_ps, at_ps);
  }
  std::uint64_t count = 0;
  TimePs last_ps = 0;
};
}  // namespace

ReplayResult replay_flows(const FlowRecord& record, const Topology& topology, const MessageCost& cost,
                          double tolerance) {
  EventQueue queue;
  FlowModel net(queue, topology, cost, tolerance);
  net.record_link_activity(false);  // as in the recorded run (bench_workloads records no link activity)
  CountingSink sink;
  net.set_sink(&sink);
  // Operations go in one at a time, each scheduling the next: the queue then holds what the
  // model itself schedules plus one replay event, as in the simulation, not the whole record.
  std::size_t next = 0;
  std::function<void()> step = [&] {
    const TimePs now = queue.now_ps();
    while (next < record.ops.size() && record.ops[next].at_ps == now) {
      const FlowRecord::Op& op = record.ops[next++];
      switch (op.kind) {
        case FlowRecord::Kind::declare: {
          const FlowRecord::Batch& b = record.batches[static_cast<std::size_t>(op.arg)];
          net.declare(b.flows, b.salt, b.size_by_src);
          break;
        }
        case FlowRecord::Kind::start:
          net.start(op.arg, 0);
          break;
        case FlowRecord::Kind::clear:
          net.clear_declared();
          break;
      }
    }
    if (next < record.ops.size()) queue.schedule(record.ops[next].at_ps, [&] { step(); });
  };
  const double cpu0 = cpu_seconds();
  if (!record.ops.empty()) queue.schedule(record.ops.front().at_ps, [&] { step(); });
  queue.run();
  ReplayResult r;
  r.cpu_s = cpu_seconds() - cpu0;
  r.flows = sink.count;
  r.last_ps = sink.last_ps;
  r.solves = net.rate_solves();
  return r;
}

}  // namespace moesim::bench
