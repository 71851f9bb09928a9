// Blocking and empty kernels of the timing harness (see timer_kernels.hpp).
#include "bench/timer_kernels.hpp"

#include "bench/cuda_check.hpp"

namespace moesim::calib {

namespace {

__device__ std::uint64_t global_timer_ns() {
  std::uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__global__ void blocking_kernel(const volatile int* release, int* timed_out, std::uint64_t timeout_ns) {
  const std::uint64_t start = global_timer_ns();
  while (*release == 0) {
    if (global_timer_ns() - start > timeout_ns) {
      *timed_out = 1;
      return;
    }
#if __CUDA_ARCH__ >= 700
    __nanosleep(500);
#endif
  }
}

__global__ void empty_kernel() {}

}  // namespace

void launch_blocking_kernel(const volatile int* release, int* timed_out, std::uint64_t timeout_ns,
                            cudaStream_t stream) {
  blocking_kernel<<<1, 1, 0, stream>>>(release, timed_out, timeout_ns);
  MOESIM_CUDA_LAUNCH_CHECK("blocking_kernel<<<1, 1>>>");
}

void launch_empty_kernel(cudaStream_t stream) {
  empty_kernel<<<1, 1, 0, stream>>>();
  MOESIM_CUDA_LAUNCH_CHECK("empty_kernel<<<1, 1>>>");
}

}  // namespace moesim::calib
