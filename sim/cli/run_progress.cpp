// See run_progress.hpp. A signal handler can only touch a lock-free atomic with static storage,
// so the interrupt flag is the one such object here.
#include "cli/run_progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>

namespace moesim::cli {

namespace {
std::atomic<bool>& interrupt_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}
extern "C" void on_sigint(int) { interrupt_flag().store(true, std::memory_order_relaxed); }
struct sigaction& previous_action() {
  static struct sigaction previous {};
  return previous;
}
constexpr double kQuietForSeconds = 2.0;
}  // namespace

RunProgressLine::RunProgressLine() : tty_(isatty(STDERR_FILENO) == 1) {
  static_assert(std::atomic<bool>::is_always_lock_free);
  interrupt_flag().store(false);
  struct sigaction action {};
  action.sa_handler = on_sigint;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends the process
  sigaction(SIGINT, &action, &previous_action());
  control_.interrupt = &interrupt_flag();
  control_.progress = [this](const RunProgress& p) { show(p); };
}

RunProgressLine::~RunProgressLine() {
  sigaction(SIGINT, &previous_action(), nullptr);
  if (shown_) std::fputs("\r\033[K", stderr);
}

bool RunProgressLine::interrupted() const { return interrupt_flag().load(std::memory_order_relaxed); }

void RunProgressLine::show(const RunProgress& p) {
  if (p.interrupting && !told_interrupt_) {
    told_interrupt_ = true;
    std::fputs(fmt::format("{}interrupted: finishing step {} of {}, then writing the completed steps (Ctrl-C again "
                           "to abort)\n",
                           shown_ ? "\r\033[K" : "", p.steps_done + 1, p.steps_total)
                   .c_str(),
               stderr);
  }
  if (!tty_ || p.wall_s < kQuietForSeconds) return;
  const double rate = p.steps_done > 0 ? p.steps_done / p.wall_s : 0;
  const std::string eta =
      rate > 0 ? fmt::format("ETA {:.0f} s", (p.steps_total - p.steps_done) / rate) : std::string("ETA -");
  std::fputs(fmt::format("\r\033[K  step {}/{}  {:.2f} steps/s  {:.1f} M events  {}", p.steps_done, p.steps_total, rate,
                         static_cast<double>(p.events) * 1e-6, eta)
                 .c_str(),
             stderr);
  std::fflush(stderr);
  shown_ = true;
}

}  // namespace moesim::cli
