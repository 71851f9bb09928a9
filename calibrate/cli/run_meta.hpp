#pragma once
// What a run records about where it ran (device, driver, CUDA and NCCL versions, date, command)
// and how it saves: the measurements JSON through moesim::fit, optionally merged into an
// existing file. Assumption: device 0 is the device measured (single-GPU subcommands).
#include <string>

#include "fit/measurements.hpp"

namespace moesim::calib {

// Throws NoDeviceError when no CUDA device is usable (no GPU, no driver).
void require_device();

struct DeviceInfo {
  std::string name;
  int sm_major = 0, sm_minor = 0;
  int sms = 0;
  double memory_GB = 0;
  double free_GB = 0;
  int devices = 0;
};
DeviceInfo device_info();

// Fills every MeasurementMeta field; `nccl` adds the NCCL library version.
fit::MeasurementMeta collect_meta(int argc, const char* const* argv, bool nccl);
std::string today_iso();

// Writes `m` to `path` (merging into the file's rows when `merge` and it exists); with an empty
// path prints that nothing was saved.
void save_measurements_to(const fit::Measurements& m, const std::string& path, bool merge);

}  // namespace moesim::calib
