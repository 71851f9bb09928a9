#pragma once
// Fluid network model: active flows share links max-min fairly; rates are re-solved whenever a
// flow starts or finishes (starts at the same instant are batched into one solve), and only the
// next completion is kept as an event. Each flow's last byte arrives its path latency after it
// leaves the fluid system.
#include <cstdint>
#include <vector>

#include "net/max_min_solver.hpp"
#include "net/network.hpp"

namespace moesim {

class FlowModel final : public Network {
 public:
  FlowModel(EventQueue& queue, const Topology& topology, MessageCost cost);
  void start(std::int64_t flow_id, Delivered on_delivered) override;
  std::uint64_t solves() const { return solves_; }
  std::size_t active() const { return active_.size(); }

 private:
  struct Active {
    std::int64_t id;
    const Path* path;  // cached: looked up on every solve
    double remaining;  // effective bytes still to send
    double rate;       // bytes per ps
    Delivered on_delivered;
  };
  void advance();                 // drains remaining bytes up to now
  void resolve();                 // completes finished flows, re-solves, schedules next completion
  void schedule_resolve();

  std::vector<Active> active_;
  std::vector<double> capacity_;  // bytes per ps per link
  TimePs last_update_ps_ = 0;
  std::uint64_t generation_ = 0;  // invalidates superseded completion events
  bool resolve_pending_ = false;
  std::uint64_t solves_ = 0;
  MaxMinSolver solver_;
  std::vector<std::uint32_t> offsets_;
  std::vector<std::int32_t> resources_;
  std::vector<double> rates_;
};

}  // namespace moesim
