// libFuzzer target: device-profile TOML text through the loader.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "io/profile_io.hpp"
#include "io/toml_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    (void)moesim::io::load_profile_table(moesim::io::parse_toml_text(text, "fuzz.toml"), "fuzz.toml");
  } catch (const moesim::InputError&) {}
  return 0;
}
