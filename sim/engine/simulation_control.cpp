// Simulation's run control (see run_control.hpp): the event loop of a step with its deadline,
// interrupt and livelock checks, and progress reports. Checks run every kCheckEvery events, so the
// loop costs one counter test per event.
#include <fmt/format.h>

#include "core/error.hpp"
#include "engine/simulation.hpp"

namespace moesim {

namespace {
constexpr std::uint64_t kCheckEvery = 4096;
constexpr auto kProgressEvery = std::chrono::milliseconds(500);
// A step's events per task and per flow: the flow model re-solves and re-arms its timers a few times
// per flow; a thousand times that is no progress.
constexpr std::uint64_t kEventsPerItem = 1000;
constexpr std::uint64_t kEventsSlack = 10'000'000;
}  // namespace

bool Simulation::drain_events(int step, Results& out, const RunControl::Clock::time_point& wall_start) {
  const std::uint64_t first = queue_.executed();
  auto next_progress = RunControl::Clock::now() + kProgressEvery;
  for (std::uint64_t n = 1; queue_.step(); ++n) {
    if (n % kCheckEvery != 0) [[likely]]
      continue;
    const std::uint64_t items = log_.size() + network_->flows_declared();
    if (n > kEventsSlack + kEventsPerItem * items)
      throw Error(
          fmt::format("{}: step {}: {} events for {} tasks and flows without finishing (a livelock in the "
                      "network or engine model); unfinished: {}",
                      scenario_.file, step, queue_.executed() - first, items, unfinished_report("in")));
    if (control_ == nullptr) continue;
    const auto now = RunControl::Clock::now();
    if (now >= control_->deadline) {
      out.stopped = RunStop::timeout;
      return false;
    }
    if (control_->progress && now >= next_progress) {
      next_progress = now + kProgressEvery;
      report_progress(out, wall_start);
    }
  }
  return true;
}

void Simulation::report_progress(const Results& out, const RunControl::Clock::time_point& wall_start) const {
  if (control_ == nullptr || !control_->progress) return;
  RunProgress p;
  p.steps_done = static_cast<int>(out.steps.size());
  p.steps_total = scenario_.workload.steps;
  p.wall_s = std::chrono::duration<double>(RunControl::Clock::now() - wall_start).count();
  p.events = queue_.executed();
  p.interrupting = control_->interrupt && control_->interrupt->load(std::memory_order_relaxed);
  control_->progress(p);
}

}  // namespace moesim
