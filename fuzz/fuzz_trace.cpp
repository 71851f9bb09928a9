// libFuzzer target: bytes as a routing-trace file, read to the end (and rewound once).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/error.hpp"
#include "trace/trace.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = "/tmp/moesim-fuzz-trace-" + std::to_string(::getpid()) + ".moetrace";
  if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  try {
    moesim::TraceReader reader(path);
    moesim::TraceStep step;
    while (reader.next(step)) {}
    reader.rewind();
    (void)reader.next(step);
  } catch (const moesim::InputError&) {}
  std::remove(path.c_str());
  return 0;
}
