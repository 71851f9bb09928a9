#pragma once
// The flow model alone, for benchmarks: a FlowModel that records what the simulation asks of it
// (collective declarations, flow starts, clears, each with its time), and an open-loop replay of
// that record through a fresh FlowModel. Timing the replay measures the network model without the
// gate, planning and compute that end-to-end figures include.
#include <cstdint>
#include <memory>
#include <vector>

#include "core/event_queue.hpp"
#include "net/flow_model.hpp"

namespace moesim::bench {

struct FlowRecord {
  enum class Kind : std::uint8_t { declare, start, clear };
  struct Op {
    Kind kind;
    TimePs at_ps;
    std::int64_t arg;  // declare: index into batches; start: flow id
  };
  struct Batch {
    std::uint64_t salt;
    std::vector<FlowDecl> flows;
    std::vector<double> size_by_src;
  };
  std::vector<Op> ops;
  std::vector<Batch> batches;
};

class RecordingFlowModel final : public FlowModel {
 public:
  RecordingFlowModel(EventQueue& queue, const Topology& topology, MessageCost cost, double tolerance,
                     FlowRecord& record)
      : FlowModel(queue, topology, std::move(cost), tolerance), record_(record) {}
  void start(std::int64_t flow_id, std::uint64_t tag) override;

 private:
  void on_declared(const Declaration& d) override;
  void on_cleared() override;
  FlowRecord& record_;
};

struct ReplayResult {
  std::uint64_t flows = 0;  // deliveries seen
  TimePs last_ps = 0;       // the last delivery
  std::uint64_t solves = 0;
  double cpu_s = 0;  // the replay's event loop only
};

// Replays `record` open loop (every operation at its recorded time) through a new FlowModel.
ReplayResult replay_flows(const FlowRecord& record, const Topology& topology, const MessageCost& cost,
                          double tolerance);

}  // namespace moesim::bench
