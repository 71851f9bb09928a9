#pragma once
// Fluid network model: active flows share links max-min fairly. Rates are re-solved when flows
// start or finish; with a tolerance eps > 0 the re-solve waits until eps x (active flows) starts
// and completions have happened since the last one (completions free bandwidth that waits for
// the next solve; a starting flow takes the capacity its links have left, at most). eps = 0
// re-solves on every event: exact max-min. Each flow's last byte arrives its path latency after
// it leaves the fluid system.
#include <cstdint>
#include <vector>

#include "net/max_min_solver.hpp"
#include "net/network.hpp"

namespace moesim {

class FlowModel final : public Network {
 public:
  // `resolve_tolerance` in [0, 1): the eps above.
  FlowModel(EventQueue& queue, const Topology& topology, MessageCost cost, double resolve_tolerance = 0);
  using Network::start;
  void start(std::int64_t flow_id, std::uint64_t tag) override;
  std::uint64_t rate_solves() const override { return solves_; }


 private:
  struct Active {
    std::int64_t id;
    const Path* path;  // cached: looked up on every solve
    double remaining;  // effective bytes still to send at ref_ps
    double rate;       // bytes per ps
    TimePs ref_ps;     // when `remaining` was last brought up to date
    std::uint64_t tag;
    bool done;         // delivered; dropped at the next solve
  };
  struct Due {  // min-heap entry: a flow's finish time
    double finish_ps;
    std::uint32_t index;
    bool operator>(const Due& o) const { return finish_ps != o.finish_ps ? finish_ps > o.finish_ps : index > o.index; }
  };
  void resolve();                 // drops finished flows, re-solves, schedules the next completion
  void schedule_resolve();        // at this instant, after the events already queued for it
  void on_timer();                // delivers the flows due now; re-solves when enough changed
  void arm_timer();               // an event at the earliest finish (if earlier than the armed one)
  void complete(Active& a, TimePs now);
  void push_due(std::uint32_t index);  // a rated flow, by when it leaves the fluid system

  double tolerance_;
  std::vector<Active> active_;
  std::vector<double> capacity_;  // bytes per ps per link
  std::vector<double> residual_;  // capacity left by the rates of the last solve (and starts since)
  std::vector<std::uint32_t> due_batch_;  // scratch for on_timer
  std::vector<std::uint32_t> live_;       // scratch: solver variable -> index in active_
  std::vector<Due> due_;          // heap (std::push_heap with greater<>): earliest finish first
  std::size_t changes_ = 0;       // starts and completions since the last solve
  std::size_t threshold_ = 1;     // changes that trigger a re-solve
  std::size_t unrated_ = 0;       // flows started since the last solve with no capacity left
  bool resolve_pending_ = false;
  TimePs timer_at_ = -1;          // time of the armed completion event (-1: none)
  std::uint64_t timer_gen_ = 0;   // invalidates superseded completion events
  std::uint64_t solves_ = 0;
  MaxMinSolver solver_;
  std::vector<std::uint32_t> offsets_;
  std::vector<std::int32_t> resources_;
  std::vector<double> rates_;
};

}  // namespace moesim
