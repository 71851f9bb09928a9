#pragma once
// Helper kernels of the timing harness: a blocking kernel that holds the stream until the host
// has queued a whole batch (so launch gaps never enter a measurement), and an empty kernel for
// the launch-overhead measurement.
#include <cuda_runtime_api.h>

#include <cstdint>

namespace moesim::calib {

// Spins until *release (mapped host memory) becomes non-zero, or `timeout_ns` passes, in which
// case it sets *timed_out = 1 (so a full launch queue cannot deadlock the host).
void launch_blocking_kernel(const volatile int* release, int* timed_out, std::uint64_t timeout_ns, cudaStream_t stream);
void launch_empty_kernel(cudaStream_t stream);

}  // namespace moesim::calib
