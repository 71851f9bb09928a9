#pragma once
// Analytic network model: each flow of a collective takes its path latency plus, on each link of
// its path, the time that link needs under processor sharing to deliver it when every flow of the
// collective starts together (sum over the link's flows of min(their bytes, its bytes) / link
// bandwidth); the slowest link decides. No re-solving, so it is fast; it equals the fluid model
// when one link is every flow's bottleneck (e.g. a uniform all-to-all on a non-blocking switch).
#include <cstdint>
#include <vector>

#include "net/network.hpp"

namespace moesim {

class AnalyticNetwork final : public Network {
 public:
  AnalyticNetwork(EventQueue& queue, const Topology& topology, MessageCost cost);
  using Network::start;
  void start(std::int64_t flow_id, std::uint64_t tag) override;
  std::vector<LinkActivity> link_activity() const override;

 private:
  void on_declared(const Declaration& d) override;
  void on_cleared() override { duration_ps_.clear(); }
  std::vector<TimePs> duration_ps_;  // by index(flow id)
  // Link activity: a flow is on each link of its path for its duration (flows start in time
  // order, so busy time is the union of those intervals, extended as they come).
  struct LinkBusy {
    TimePs begin = 0, end = 0;  // the busy interval being extended
    TimePs busy_ps = 0;         // of the closed intervals
  };
  std::vector<LinkBusy> busy_;  // by link
  LinkWindows windows_;
  TimePs settle_at_ = 0;  // the next window boundary: windows before a start are final
  struct Use {
    double bytes;
    std::int64_t flow;
  };
  std::vector<Use> uses_;                // scratch: link uses grouped by link
  std::vector<std::size_t> link_start_;  // scratch: link -> first use
  std::vector<std::size_t> cursor_;      // scratch
  // Scratch for sorted_by_size(): a hash table of the sizes seen (slots of an older generation
  // are empty), the distinct sizes with their counts, each flow's distinct size, the output.
  struct Slot {
    std::uint64_t bits;  // the effective size's bit pattern
    std::uint32_t gen;
    std::uint32_t id;  // index in distinct_
  };
  struct Distinct {
    std::uint64_t bits;
    std::uint32_t count;  // then: where its flows start in sorted_
  };
  std::vector<Slot> table_;
  std::uint32_t table_gen_ = 0;
  std::vector<Distinct> distinct_;
  std::vector<std::uint32_t> distinct_of_, order_, sorted_;
  const std::vector<std::uint32_t>& sorted_by_size(std::int64_t first_id, std::size_t count);
};

}  // namespace moesim
