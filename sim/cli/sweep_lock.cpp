// The sweep directory's lock (see sweep_lock.hpp).
#include "cli/sweep_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "core/error.hpp"

namespace moesim::cli {

SweepLock::SweepLock(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / "sweep.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(fmt::format("cannot open {}: {}", path.string(), std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    // The holder wrote its pid into the file: worth naming, so the user can find it.
    char buf[32] = {};
    const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
    holder.erase(holder.find_last_not_of(" \n") + 1);
    ::close(fd_);
    if (err != EWOULDBLOCK) throw Error(fmt::format("cannot lock {}: {}", path.string(), std::strerror(err)));
    throw InputError(
        fmt::format("{}: another sweep{} is running in this directory, holding {}; wait for it to end, "
                    "or pass another -o",
                    dir.string(), holder.empty() ? "" : " (pid " + holder + ")", path.string()));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  // Only informative: a failure to write the pid does not matter.
  [[maybe_unused]] const bool written =
      ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, pid.data(), pid.size(), 0) == static_cast<ssize_t>(pid.size());
}

SweepLock::~SweepLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the last descriptor releases the lock
}

}  // namespace moesim::cli
