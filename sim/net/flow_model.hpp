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

class FlowModel : public Network {  // not final: a benchmark records what it is asked to do
 public:
  // `resolve_tolerance` in [0, 1): the eps above.
  FlowModel(EventQueue& queue, const Topology& topology, MessageCost cost, double resolve_tolerance = 0);
  using Network::start;
  void start(std::int64_t flow_id, std::uint64_t tag) override;
  std::uint64_t rate_solves() const override { return solves_; }
  std::vector<LinkActivity> link_activity() const override;

 private:
  // Flows that the last solve fixed at the same bottleneck link move at that link's level, so one
  // clock per link (the bytes each of its flows has received) stands for all of them: a solve
  // that changes a level touches the link, not its flows, and a flow is touched only when its
  // bottleneck changes. Flows started since the last solve move at their own provisional rate.
  static constexpr std::int32_t kOwn = -1;  // Flow::group of a flow with its own rate
  struct Flow {
    double left;         // in a group: its clock reading when the flow is done; own: bytes left at ref_ps
    double rate;         // own rate (0: waiting for the next solve); unused in a group
    TimePs ref_ps;       // own: when `left` was last brought up to date
    std::int32_t group;  // the bottleneck link, or kOwn
    std::uint32_t tick;  // bumped on every move: heap entries with an older tick are stale
  };
  struct FlowInfo {
    std::int64_t id;
    std::uint64_t tag;
    std::uint64_t seq;  // start order: simultaneous completions are delivered in it
    Bytes bytes;        // what the flow carries (its declaration is cold by the time it completes)
    TimePs latency_ps;
    std::int32_t own_link;  // the link that set its own rate at its start (-1: none)
    TimePs start_ps;
  };
  struct LinkBusy {  // see Network::link_activity
    TimePs since_ps = 0;
    TimePs busy_ps = 0;
    std::uint32_t active = 0;  // flows on the link now
  };
  // A flow (in own_ or a group's queue) or a group (in next_) by key; stale when its tick is out
  // of date.
  struct Entry {
    // Left uninitialised by default: heaps are resized, then written.
    Entry() {}  // NOLINT: not `= default`, which would zero them on resize
    Entry(double k, std::uint32_t i, std::uint32_t t) : key(k), id(i), tick(t) {}
    double key;
    std::uint32_t id;
    std::uint32_t tick;
    struct Less {  // a functor, so that the heap code inlines it
      bool operator()(const Entry& a, const Entry& b) const {
        return (a.key < b.key) | ((a.key == b.key) & (a.id < b.id));
      }
    };
    struct KeyLess {  // by key alone: a group's queue (equal keys finish in the same batch)
      bool operator()(const Entry& a, const Entry& b) const { return a.key < b.key; }
    };
  };
  struct Group {       // the flows a link is the bottleneck of
    double clock = 0;  // bytes each member has received (since the group last emptied) by clock_ps
    TimePs clock_ps = 0;
    double level = 0;     // bytes per ps
    TimePs timer_ps = 0;  // when its earliest flow is done, rounded up (set with its entry in next_)
    std::uint32_t live = 0;
    std::uint32_t tick = 0;  // bumped when its earliest finish changes: stale entries in next_
    // Its flows by `left`, from `head` on: flows join a group only at a solve, so a sorted array
    // read from the front beats a heap (stale entries, of flows that moved away, are skipped).
    std::vector<Entry> queue;
    std::size_t head = 0;
    std::vector<Entry> joined;  // flows that moved in during this solve, merged in after it
  };
  double left_of(const Flow& f, TimePs now) const;  // bytes still to send at `now`
  double rate_of(const Flow& f) const {
    return f.group == kOwn ? f.rate : groups_[static_cast<std::size_t>(f.group)].level;
  }
  bool is_due(std::uint32_t var, TimePs now) const;
  void resolve();           // completes flows due now, re-solves, schedules the next completion
  void schedule_resolve();  // at this instant, after the events already queued for it
  void on_timer();          // delivers the flows due now; re-solves when enough changed
  void arm_timer();         // an event at the earliest finish (if earlier than the armed one)
  bool top_valid(std::vector<Entry>& heap, bool groups);  // drops stale entries at the top
  const Entry* front(Group& g);                           // its first valid entry (nullptr: none), skipping stale ones
  void merge_joined(Group& g);                            // sorts `joined` into `queue`, dropping stale entries
  void sort_joined(Group& g);                             // sorts `joined` by key
  static constexpr std::size_t kRankSortMax = 128;        // larger: std::sort
  // Its queue holds many entries of flows that moved away: time to drop them.
  static bool mostly_stale(const Group& g) {
    return g.queue.size() - g.head > 2 * static_cast<std::size_t>(g.live) + 16;
  }
  bool any_finish_pending();
  void reset_group(Group& g, TimePs now);                          // emptied: an empty group is always in this state
  void stall_group(std::int32_t link, TimePs now);                 // fixed at level 0: its flows become unrated
  bool group_entry(std::int32_t link, Entry& entry);               // its entry for next_ (false: none); stales the old
  void take_due(TimePs now);                                       // moves the flows due now to due_batch_
  void complete_batch(TimePs now);                                 // completes due_batch_, in start order
  void move_to(std::uint32_t var, std::int32_t link, TimePs now);  // the solve fixed var at link

  double tolerance_;
  MaxMinSolver solver_;
  std::vector<Flow> flows_;
  std::vector<FlowInfo> flow_info_;
  std::vector<Group> groups_;             // by link
  std::vector<Entry> own_;                // heap: flows with their own rate, by finish time
  std::vector<Entry> next_;               // heap: groups (by link) by their earliest finish
  std::vector<Entry> deferred_;           // scratch: groups' entries that wait to enter next_
  std::vector<Entry> merged_;             // scratch for merge_joined and sort_joined
  std::vector<double> keys_;              // scratch for sort_joined
  std::vector<std::uint32_t> rank_;       // scratch for sort_joined
  std::vector<double> residual_;          // capacity left by the rates of the last solve (and starts since)
  std::vector<std::uint32_t> due_batch_;  // scratch: flows completing now
  std::vector<std::uint32_t> unrated_;    // flows given no rate (no capacity left on a link)
  std::vector<LinkBusy> busy_;            // by link
  LinkWindows windows_;
  std::uint64_t next_seq_ = 0;
  std::size_t changes_ = 0;    // starts and completions since the last solve
  std::size_t threshold_ = 1;  // changes that trigger a re-solve
  bool resolve_pending_ = false;
  TimePs timer_at_ = -1;         // time of the armed completion event (-1: none)
  std::uint64_t timer_gen_ = 0;  // invalidates superseded completion events
  std::uint64_t solves_ = 0;
};

}  // namespace moesim
