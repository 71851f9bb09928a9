// Empty kernels queued back to back in one stream: the GPU's cost per launch (assumption: that
// cost is what each extra kernel of a phase adds), with the host's submission time beside it.
#include <fmt/format.h>

#include <chrono>

#include "bench/timer_kernels.hpp"
#include "core/error.hpp"
#include "ops/device_ops.hpp"

namespace moesim::calib {

EmptyLaunches::EmptyLaunches(int launches) : launches_(launches) {
  if (launches_ < 1) throw InputError(fmt::format("{} empty kernel launches: need at least 1", launches_));
}

std::string EmptyLaunches::name() const { return fmt::format("{} empty kernel launches", launches_); }

void EmptyLaunches::run(std::span<const cudaStream_t> streams) {
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < launches_; ++i) launch_empty_kernel(streams[0]);
  const auto t1 = std::chrono::steady_clock::now();
  host_ns_.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count() / launches_);
}

double EmptyLaunches::host_ns_per_launch() const {
  return host_ns_.empty() ? 0 : summarize_us(host_ns_).median_us;  // the statistic, in ns here
}

}  // namespace moesim::calib
