#pragma once
// RAII device memory of n elements of T on the device current at allocation (freed there), with
// checked synchronous copies to and from the host. Assumption: buffers are allocated once per
// configuration, outside anything timed.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "bench/cuda_check.hpp"

namespace moesim::calib {

template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) { allocate(n); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept { swap(o); }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      release();
      swap(o);
    }
    return *this;
  }

  void allocate(std::size_t n) {
    release();
    if (n == 0) return;
    MOESIM_CUDA_CHECK(cudaGetDevice(&device_));
    const cudaError_t e = cudaMalloc(reinterpret_cast<void**>(&ptr_), n * sizeof(T));
    if (e != cudaSuccess) {
      (void)cudaGetLastError();  // clear the sticky-free allocation error
      ptr_ = nullptr;
      throw Error("cudaMalloc of " + std::to_string(static_cast<double>(n * sizeof(T)) / 1e9) +
                  " GB failed: " + cudaGetErrorString(e) + " (free memory with cudaMemGetInfo; fewer tokens?)");
    }
    n_ = n;
  }

  T* get() { return ptr_; }
  const T* get() const { return ptr_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }

  // cudaMemcpy from pageable memory may return before its DMA lands and orders only against the
  // legacy default stream, so both directions synchronise the buffer's device: an upload is
  // complete before any stream uses it, a download sees every kernel queued before it.
  void upload(const T* src, std::size_t n, std::size_t offset = 0) {
    check_range(n, offset, "upload");
    if (n) MOESIM_CUDA_CHECK(cudaMemcpy(ptr_ + offset, src, n * sizeof(T), cudaMemcpyHostToDevice));
    sync_device();
  }
  void upload(const std::vector<T>& src) { upload(src.data(), src.size()); }
  void download(T* dst, std::size_t n, std::size_t offset = 0) const {
    check_range(n, offset, "download");
    sync_device();
    if (n) MOESIM_CUDA_CHECK(cudaMemcpy(dst, ptr_ + offset, n * sizeof(T), cudaMemcpyDeviceToHost));
  }
  std::vector<T> to_host(std::size_t n, std::size_t offset = 0) const {
    std::vector<T> out(n);
    download(out.data(), n, offset);
    return out;
  }
  std::vector<T> to_host() const { return to_host(n_); }

 private:
  void sync_device() const {
    int current = 0;
    MOESIM_CUDA_CHECK(cudaGetDevice(&current));
    if (current != device_) MOESIM_CUDA_CHECK(cudaSetDevice(device_));
    const cudaError_t e = cudaDeviceSynchronize();
    if (current != device_) MOESIM_CUDA_CHECK(cudaSetDevice(current));
    MOESIM_CUDA_CHECK(e);
  }
  void check_range(std::size_t n, std::size_t offset, const char* what) const {
    if (offset > n_ || n > n_ - offset)
      throw Error(std::string("DeviceBuffer::") + what + ": range [" + std::to_string(offset) + ", " +
                  std::to_string(offset + n) + ") outside " + std::to_string(n_) + " elements");
  }
  void release() noexcept {
    if (!ptr_) return;
    int current = 0;
    if (cudaGetDevice(&current) == cudaSuccess && current != device_) {
      (void)cudaSetDevice(device_);
      (void)cudaFree(ptr_);
      (void)cudaSetDevice(current);
    } else {
      (void)cudaFree(ptr_);
    }
    ptr_ = nullptr;
    n_ = 0;
  }
  void swap(DeviceBuffer& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(n_, o.n_);
    std::swap(device_, o.device_);
  }
  T* ptr_ = nullptr;
  std::size_t n_ = 0;
  int device_ = 0;
};

}  // namespace moesim::calib
