#pragma once
// Ctrl-C and progress for long runs: the first SIGINT asks the run to stop after the step in
// progress (a second one ends the process as usual), and a progress line (steps, rate, ETA) goes to
// stderr when it is a terminal and the run has taken more than a couple of seconds.
#include <atomic>

#include "engine/run_control.hpp"

namespace moesim::cli {

class RunProgressLine {
 public:
  // Installs the SIGINT handler; the destructor restores the previous one and ends the line.
  RunProgressLine();
  ~RunProgressLine();
  RunProgressLine(const RunProgressLine&) = delete;
  RunProgressLine& operator=(const RunProgressLine&) = delete;

  const RunControl& control() const { return control_; }
  bool interrupted() const;

 private:
  void show(const RunProgress& p);
  RunControl control_;
  bool tty_ = false;
  bool shown_ = false;
  bool told_interrupt_ = false;
};

}  // namespace moesim::cli
