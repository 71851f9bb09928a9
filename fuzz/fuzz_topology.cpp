// libFuzzer target: topology TOML text through the loader (generators, explicit lists, routing).
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "io/toml_reader.hpp"
#include "io/topology_loader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)moesim::io::load_topology_table(moesim::io::parse_toml_text(text, "fuzz.toml"), "fuzz.toml");
  } catch (const moesim::InputError&) {}
  return 0;
}
