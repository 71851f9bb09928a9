// libFuzzer target: scenario TOML text through the strict loader. Bad input must end as an
// InputError; anything else (a crash, another exception, a sanitizer report) is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "io/toml_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const toml::table t = moesim::io::parse_toml_text(text, "fuzz.toml");
    (void)moesim::io::load_scenario_table(t, "fuzz.toml", MOESIM_SOURCE_DIR "/scenarios");
  } catch (const moesim::InputError&) {}
  return 0;
}
