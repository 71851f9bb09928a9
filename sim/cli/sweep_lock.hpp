#pragma once
// One sweep per directory: an exclusive flock on DIR/sweep.lock, held while the sweep runs and
// released by the OS when the process ends, however it ends (a killed sweep leaves no stale lock).
#include <filesystem>

namespace moesim::cli {

class SweepLock {
 public:
  // Creates `dir` if needed and takes the lock; InputError naming the directory (and the pid that
  // holds it) when another sweep has it, Error when the lock file cannot be opened.
  explicit SweepLock(const std::filesystem::path& dir);
  ~SweepLock();
  SweepLock(const SweepLock&) = delete;
  SweepLock& operator=(const SweepLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace moesim::cli
