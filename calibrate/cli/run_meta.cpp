// Run provenance and saving (see run_meta.hpp).
#include "cli/run_meta.hpp"

#include <cuda_runtime_api.h>
#include <fmt/format.h>
#include <nccl.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "bench/cuda_check.hpp"
#include "bench/nccl_check.hpp"
#include "cli/calib_args.hpp"

namespace moesim::calib {

namespace {

std::string version_text(int v) { return fmt::format("{}.{}", v / 1000, (v % 1000) / 10); }

// The kernel module's version ("580.65.06") from /proc, else the driver API version.
std::string driver_version() {
  std::ifstream in("/proc/driver/nvidia/version");
  std::string line;
  if (in && std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, std::regex(R"((\d+\.\d+(\.\d+)?))"))) return m.str(1);
  }
  int v = 0;
  MOESIM_CUDA_CHECK(cudaDriverGetVersion(&v));
  return "CUDA driver API " + version_text(v);
}

}  // namespace

void require_device() {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0) {
    MOESIM_CUDA_CHECK(cudaSetDevice(0));
    return;
  }
  (void)cudaGetLastError();
  // With an NVIDIA kernel driver loaded, an old driver is a real error (not "no GPU": exit 1, so a
  // GPU test cannot pass as skipped); without one, there is no GPU to use (exit 77).
  const bool driver_loaded = std::filesystem::exists("/proc/driver/nvidia/version");
  if (driver_loaded && e == cudaErrorInsufficientDriver) {
    int runtime = 0;
    (void)cudaRuntimeGetVersion(&runtime);
    throw Error(
        fmt::format("the NVIDIA driver {} is too old for the CUDA {} runtime this was built with: update "
                    "the driver or build with an older CUDA toolkit",
                    driver_version(), version_text(runtime)));
  }
  throw NoDeviceError(fmt::format("no usable CUDA device ({}): moesim-calibrate needs an NVIDIA GPU and driver",
                                  e == cudaSuccess ? "none found" : cudaGetErrorString(e)));
}

DeviceInfo device_info() {
  DeviceInfo d;
  MOESIM_CUDA_CHECK(cudaGetDeviceCount(&d.devices));
  cudaDeviceProp p{};
  MOESIM_CUDA_CHECK(cudaGetDeviceProperties(&p, 0));
  d.name = p.name;
  d.sm_major = p.major;
  d.sm_minor = p.minor;
  d.sms = p.multiProcessorCount;
  d.memory_GB = static_cast<double>(p.totalGlobalMem) / 1e9;
  std::size_t free = 0, total = 0;
  MOESIM_CUDA_CHECK(cudaMemGetInfo(&free, &total));
  d.free_GB = static_cast<double>(free) / 1e9;
  return d;
}

std::string today_iso() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d", &tm);
  return buf;
}

fit::MeasurementMeta collect_meta(int argc, const char* const* argv, bool nccl) {
  const DeviceInfo d = device_info();
  fit::MeasurementMeta m;
  m.device = d.name;
  m.driver = driver_version();
  int runtime = 0;
  MOESIM_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
  m.cuda = version_text(runtime);
  if (nccl) {
    int v = 0;
    MOESIM_NCCL_CHECK(ncclGetVersion(&v));
    // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
    m.nccl = v >= 20900 ? fmt::format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100)
                        : fmt::format("{}.{}.{}", v / 1000, (v % 1000) / 100, v % 100);
  }
  m.date = today_iso();
  m.command = join_command_line(argc, argv);
  m.gpus = d.devices;
  m.memory_GB = d.memory_GB;
  m.sm_count = d.sms;
  return m;
}

void save_measurements_to(const fit::Measurements& m, const std::string& path, bool merge) {
  if (path.empty()) {
    std::cout << "\n(measurements not saved: give --out FILE)\n";
    return;
  }
  if (merge && std::filesystem::exists(path)) {
    fit::Measurements all = fit::load_measurements(path);
    fit::merge_measurements(all, m);
    const std::string merged = fmt::format("merged: {} ({})", m.meta.command, m.meta.date);
    all.meta.notes += (all.meta.notes.empty() ? "" : "; ") + merged;
    fit::save_measurements(all, path);
    std::cout << fmt::format("\nmeasurements merged into {}\n", path);
    return;
  }
  fit::save_measurements(m, path);
  std::cout << fmt::format("\nmeasurements written to {}\n", path);
}

}  // namespace moesim::calib
