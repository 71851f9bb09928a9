#pragma once
// Fluid network model: active flows share links max-min fairly. Rates are re-solved when flows
// start or finish; with a tolerance eps > 0 the re-solve waits until eps x (active flows) starts
// and completions have happened since the last one (completions free bandwidth that waits for
// the next solve; a starting flow takes the capacity its links have left, at most). eps = 0
// re-solves on every event: exact max-min. Each flow's last byte arrives its path latency after
// it leaves the fluid system.
#include <cstdint>
#include <limits>
#include <vector>

#include "net/max_min_solver.hpp"
#include "net/network.hpp"

namespace moesim {

class FlowModel : public Network {  // not final: a benchmark records what it is asked to do
 public:
  // `resolve_tolerance` in [0, 1): the eps above.
  FlowModel(EventQueue& queue, const Topology& topology, MessageCost cost, double resolve_tolerance = 0);
  using Network::start;
  void start(std::int64_t flow_id, std::uint64_t tag) override;
  std::uint64_t rate_solves() const override { return solves_; }

 private:
  // Per flow, by the solver's variable handle: what every solve touches, and the rest apart so
  // that the solve's working set stays small.
  struct Flow {
    double remaining;  // effective bytes still to send at ref_ps
    double rate;       // bytes per ps
    TimePs ref_ps;     // when `remaining` was last brought up to date
  };
  struct FlowInfo {
    std::int64_t id;
    std::uint64_t tag;
    std::uint64_t seq;  // start order: simultaneous completions are delivered in it
    double bytes;       // what the flow carries (its declaration is cold by the time it completes)
    TimePs latency_ps;
  };
  struct Due {  // a flow's finish time
    // Left uninitialised by default: the solve resizes its buffers to the flow count, then writes.
    Due() {}  // NOLINT: not `= default`, which would zero them on resize
    Due(double finish, std::uint32_t v) : finish_ps(finish), var(v) {}
    double finish_ps;
    std::uint32_t var;
    struct Less {  // a functor, so that the heap code inlines it
      bool operator()(const Due& a, const Due& b) const {
        return (a.finish_ps < b.finish_ps) | ((a.finish_ps == b.finish_ps) & (a.var < b.var));
      }
    };
  };
  bool is_due(std::uint32_t var, TimePs now) const;
  void resolve();                 // completes flows due now, re-solves, schedules the next completion
  void schedule_resolve();        // at this instant, after the events already queued for it
  void on_timer();                // delivers the flows due now; re-solves when enough changed
  void arm_timer();               // an event at the earliest finish (if earlier than the armed one)
  void take_due(TimePs now);      // moves the heap's flows due now to due_batch_
  void complete_batch(TimePs now);  // completes due_batch_, in start order
  void push_due(std::uint32_t var);  // a rated flow, by when it leaves the fluid system
  void select_due();              // after a solve: due_ and the tail from rated_

  double tolerance_;
  MaxMinSolver solver_;
  std::vector<Flow> flows_;
  std::vector<FlowInfo> flow_info_;
  std::vector<double> residual_;  // capacity left by the rates of the last solve (and starts since)
  std::vector<std::uint32_t> due_batch_;  // scratch: flows completing now
  std::vector<Due> due_;          // heap: the earliest finishers, which may complete before the next solve
  // Every flow rated by the last solve. Those finishing after tail_bound_ps_ are the tail: they
  // are not in the heap and wait for the next solve.
  std::vector<Due> rated_;
  std::vector<double> sample_;  // scratch: finish times, to select the heap's
  double tail_bound_ps_ = std::numeric_limits<double>::infinity();
  double horizon_ps_ = std::numeric_limits<double>::infinity();  // tail_bound_ps_ - time of the solve
  std::vector<std::uint32_t> unrated_;  // flows given no rate (no capacity left on a link)
  std::uint64_t next_seq_ = 0;
  std::size_t changes_ = 0;       // starts and completions since the last solve
  std::size_t threshold_ = 1;     // changes that trigger a re-solve
  bool resolve_pending_ = false;
  TimePs timer_at_ = -1;          // time of the armed completion event (-1: none)
  std::uint64_t timer_gen_ = 0;   // invalidates superseded completion events
  std::uint64_t solves_ = 0;
};

}  // namespace moesim
