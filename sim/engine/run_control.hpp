#pragma once
// RunControl: what a caller may ask of a run in progress from outside it: a wall-clock deadline
// (sweep --run-timeout), an interrupt flag (Ctrl-C) and progress reports. The engine looks at it
// between steps and every few thousand events, so a check costs nothing per event.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

namespace moesim {

// Why a run ended before its last step.
enum class RunStop : std::uint8_t {
  none,         // every step ran
  interrupted,  // the interrupt flag was set: the steps before it are complete and reported
  timeout,      // the deadline passed mid-step: only `stopped` and the completed steps' count mean anything
};

struct RunProgress {
  int steps_done = 0;
  int steps_total = 0;
  double wall_s = 0;          // since the run started
  std::uint64_t events = 0;   // executed so far
  bool interrupting = false;  // the interrupt flag is set: the run ends after the step in progress
};

struct RunControl {
  using Clock = std::chrono::steady_clock;
  Clock::time_point deadline = Clock::time_point::max();
  // Set from elsewhere (a signal handler, another thread): the run finishes the step in progress,
  // so what it reports is whole steps, and returns with RunStop::interrupted.
  const std::atomic<bool>* interrupt = nullptr;
  // Called after each step and about twice a second while a step runs.
  std::function<void(const RunProgress&)> progress;
};

}  // namespace moesim
