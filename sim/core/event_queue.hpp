#pragma once
// Discrete-event core: events ordered by (time, insertion sequence), so equal-time events run in
// the order they were scheduled and every run is deterministic.
#include <cstdint>
#include <functional>
#include <queue>
#include <vector>

#include "core/units.hpp"

namespace moesim {

class EventQueue {
 public:
  using Action = std::function<void()>;

  // Schedules `action` at absolute time `at_ps` (never earlier than now).
  void schedule(TimePs at_ps, Action action) {
    if (at_ps < now_ps_) at_ps = now_ps_;
    heap_.push(Event{at_ps, next_seq_++, std::move(action)});
  }
  void schedule_in(TimePs delay_ps, Action action) { schedule(now_ps_ + delay_ps, std::move(action)); }

  // Runs one event; returns false when the queue is empty.
  bool step() {
    if (heap_.empty()) return false;
    // Move the action out before popping: the action may schedule more events.
    Event ev = std::move(const_cast<Event&>(heap_.top()));
    heap_.pop();
    now_ps_ = ev.at_ps;
    ++executed_;
    ev.action();
    return true;
  }

  void run() {
    while (step()) {
    }
  }

  TimePs now_ps() const { return now_ps_; }
  bool empty() const { return heap_.empty(); }
  std::size_t pending() const { return heap_.size(); }
  std::uint64_t executed() const { return executed_; }

 private:
  struct Event {
    TimePs at_ps;
    std::uint64_t seq;
    Action action;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at_ps != b.at_ps ? a.at_ps > b.at_ps : a.seq > b.seq;
    }
  };
  std::priority_queue<Event, std::vector<Event>, Later> heap_;
  TimePs now_ps_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t executed_ = 0;
};

}  // namespace moesim
