#pragma once
// Test helpers: paths into the source tree (never the working directory) and scratch files.
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#ifndef MOESIM_SOURCE_DIR
#error "MOESIM_SOURCE_DIR must be defined by the build"
#endif

namespace moesim::test {

inline std::string source_path(const std::string& rel) { return std::string(MOESIM_SOURCE_DIR) + "/" + rel; }

// A fresh directory under the system temp dir, unique per name and process.
inline std::filesystem::path scratch_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("moesim-test-" + name + "-" + std::to_string(static_cast<long>(::getpid())));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

inline std::string write_file(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  auto p = dir / name;
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace moesim::test
