// libFuzzer target for the request-trace importers: the bytes parsed as an Azure CSV, a BurstGPT
// CSV and a Mooncake JSONL trace, each at time scale 1 and at a scale taken from the first byte.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "io/request_trace.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const double scale = size > 0 ? 1e-6 * (1 << (data[0] % 32)) : 1;  // 1e-6 .. about 2e3
  for (auto format :
       {moesim::RequestTraceFormat::azure, moesim::RequestTraceFormat::burstgpt, moesim::RequestTraceFormat::mooncake})
    for (double s : {1.0, scale}) {
      try {
        (void)moesim::io::parse_request_trace(text, "fuzz", format, s);
      } catch (const moesim::InputError&) {}
    }
  return 0;
}
