#pragma once
// The scenario schema: one table of every key (section, name, type, range, default, the Scenario
// field it fills, help). It drives the reader, the resolved-scenario writer, `moesim keys` and the
// key table of scenarios/README.md, so the schema is written down once.
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "spec/scenario.hpp"

namespace moesim::io {

using KeyValue = std::variant<std::int64_t, double, bool, std::string>;

enum class KeyType : std::uint8_t { integer, number, boolean, string, path, choice };

enum class KeyNeed : std::uint8_t {
  optional,        // a default applies
  required,        // the file must give it
  without_preset,  // [model]: required when no preset gives it
  read_by_code,    // read by the loader's own code (depends on other keys); listed for the docs
};

struct ScenarioKey {
  std::string_view section;  // "" (top level), "model", ..., "faults" ([[faults]] entries)
  std::string_view name;
  KeyType type;
  double min = 0, max = 0;           // integer and number keys
  std::vector<std::string> choices;  // choice keys
  KeyNeed need = KeyNeed::optional;
  std::string_view default_text;  // as the docs show it
  std::string_view help;
  KeyValue (*get)(const Scenario&) = nullptr;
  void (*set)(Scenario&, const KeyValue&) = nullptr;
  // The default when the key is absent (nullptr: the field's value so far, get()).
  KeyValue (*fallback)(const Scenario&) = nullptr;
  // Written to the resolved scenario (nullptr: always; never when get is nullptr).
  bool (*written)(const Scenario&) = nullptr;
  std::string dotted() const;  // "workload.tokens_per_gpu"
};

const std::vector<ScenarioKey>& scenario_keys();
// The key of `section`.`name`; Error when the schema has none (a programming error).
const ScenarioKey& scenario_key(std::string_view section, std::string_view name);
// The type and range column, e.g. "integer 1 .. 1048576", "`flow` / `analytic`".
std::string key_type_text(const ScenarioKey& key);
// The key table of scenarios/README.md (Markdown), and the plain table `moesim keys` prints.
std::string scenario_keys_markdown();
std::string scenario_keys_text();

}  // namespace moesim::io
