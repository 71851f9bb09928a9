#pragma once
// Scenario files (TOML, schema in scenarios/README.md): strict reading with file:line:col errors,
// `--set key=value` overrides applied before validation, and the resolved scenario written back.
#include <optional>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "spec/scenario.hpp"

namespace moesim::io {

// Loads `path`, applies `overrides` ("dotted.key=value", value in TOML syntax; a bare word is
// taken as a string), resolves paths relative to the scenario file and validates everything.
Scenario load_scenario(const std::string& path, const std::vector<std::string>& overrides = {});
// The same for an already-parsed table; relative paths resolve against `base_dir`.
Scenario load_scenario_table(const toml::table& table, const std::string& file, const std::string& base_dir);
// Applies one override to `table` (creating intermediate tables); throws InputError when malformed.
void apply_override(toml::table& table, const std::string& assignment);
// A model preset: a [model] table as in a scenario, in its own file. `name` is a preset of
// models_dir() (its file name without .toml) or a path to a TOML file (relative to `base_dir`).
// InputError naming the file for an unknown preset or a bad file.
ModelSpec load_model_preset(const std::string& name, const std::string& base_dir = ".");
// The presets of models_dir(), sorted; models_dir() is $MOESIM_MODELS_DIR, else the source tree's
// models/ (where the build found it).
std::vector<std::string> model_preset_names();
std::string models_dir();
// The preset `name` of models_dir(), or nullopt when it has none by that name.
std::optional<ModelSpec> find_model_preset(const std::string& name);
// The resolved scenario as TOML (every value explicit, model dims expanded, paths absolute).
std::string scenario_to_toml(const Scenario& scenario);

}  // namespace moesim::io
