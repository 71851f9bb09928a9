// libFuzzer target: bytes as a CSV (or, with a leading '{', JSONL) routing-rows file, imported.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.hpp"
#include "io/trace_import.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const bool jsonl = size > 0 && data[0] == '{';
  const std::string base = "/tmp/moesim-fuzz-rows-" + std::to_string(::getpid());
  const std::string in = base + (jsonl ? ".jsonl" : ".csv"), out = base + ".moetrace";
  if (std::FILE* f = std::fopen(in.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    (void)moesim::io::import_trace("rows", in, out, moesim::io::ImportOptions{});
  } catch (const moesim::InputError&) {
  }
  std::remove(in.c_str());
  std::remove(out.c_str());
  return 0;
}
