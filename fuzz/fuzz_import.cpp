// libFuzzer target for the trace importers: bytes written as the input file of one importer
// (MOESIM_FUZZ_IMPORT = "rows" | "npy" | "counts", set by the build), then imported. rows: CSV, or
// JSONL with a leading '{'; counts: .npy with the NumPy magic, else CSV.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "io/trace_import.hpp"

#ifndef MOESIM_FUZZ_IMPORT
#error "MOESIM_FUZZ_IMPORT must name the importer"
#endif

namespace {
std::string extension(const std::string& kind, const std::uint8_t* data, std::size_t size) {
  if (kind == "npy") return ".npy";
  if (kind == "rows") return size > 0 && data[0] == '{' ? ".jsonl" : ".csv";
  return size >= 6 && std::memcmp(data, "\x93NUMPY", 6) == 0 ? ".npy" : ".csv";
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string kind = MOESIM_FUZZ_IMPORT;
  const std::string base = "/tmp/moesim-fuzz-" + kind + "-" + std::to_string(::getpid());
  const std::string in = base + extension(kind, data, size), out = base + ".moetrace";
  if (std::FILE* f = std::fopen(in.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    (void)moesim::io::import_trace(kind, in, out, moesim::io::ImportOptions{});
  } catch (const moesim::InputError&) {}
  std::remove(in.c_str());
  std::remove(out.c_str());
  return 0;
}
