#pragma once
// Critical path of a step: every task records the task whose completion made it ready last; walking
// back from the step's last task gives the chain that set the step time, split by phase. Gaps
// between a compute task becoming ready and starting are stream contention ("stream_wait").
#include <cstdint>
#include <vector>

#include "engine/results.hpp"

namespace moesim {

struct TaskRec {
  TimePs ready_ps = 0;
  TimePs start_ps = 0;
  TimePs end_ps = 0;
  std::int32_t pred = -1;  // task that made this one ready last (-1 = step start)
  std::int16_t gpu = 0;    // where it ran (flows: the sender)
  std::int16_t peer = -1;  // flows: the receiver
  std::int16_t layer = 0;
  std::uint8_t mb = 0;
  Phase phase = Phase::attention;
  std::int64_t flow_id = -1;  // network flows only (-1 for local copies and compute)
};

class TaskLog {
 public:
  void clear() { tasks_.clear(); }
  std::size_t size() const { return tasks_.size(); }
  std::int32_t add(const TaskRec& t) {
    tasks_.push_back(t);
    return static_cast<std::int32_t>(tasks_.size() - 1);
  }
  const TaskRec& at(std::int32_t id) const { return tasks_[static_cast<std::size_t>(id)]; }
  // Later of two candidate predecessors by end time (ties: the first).
  std::int32_t later(std::int32_t a, std::int32_t b) const {
    if (a < 0) return b;
    if (b < 0) return a;
    return at(b).end_ps > at(a).end_ps ? b : a;
  }
  // The chain from `last` back to the step start, last task first.
  std::vector<std::int32_t> chain(std::int32_t last) const;
  // Calls add(task, phase, ps) for every piece of time along the chain: each task's run time
  // under its phase, and the time it waited (ready -> start, and any gap after its predecessor)
  // under stream_wait. The pieces add up to end(chain.front()) - step_start.
  template <class Add>
  void attribute(const std::vector<std::int32_t>& chain, TimePs step_start_ps, Add&& add) const {
    for (std::size_t i = 0; i < chain.size(); ++i) {
      const TaskRec& t = at(chain[i]);
      const TimePs prev_end = i + 1 < chain.size() ? at(chain[i + 1]).end_ps : step_start_ps;
      add(t, t.phase, t.end_ps - t.start_ps);
      add(t, Phase::stream_wait, (t.start_ps - t.ready_ps) + (t.ready_ps - prev_end));
    }
  }

 private:
  std::vector<TaskRec> tasks_;
};

}  // namespace moesim
