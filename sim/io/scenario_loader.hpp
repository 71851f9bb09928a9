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
// A routing preset: the popularity keys of a scenario's [gate] (kind, zipf_exponent,
// lognormal_sigma, ..., groups; not capacity_*) in a [gate] table, and a [source] table with the
// strings citation, conditions and fitted (what was measured and how the fields were found).
// `name` is a file of routing_presets_dir() without .toml, or a path as for load_model_preset.
// InputError naming the file for an unknown preset or a bad file. The result's preset = name.
GateSpec load_routing_preset(const std::string& name, const std::string& base_dir = ".");
std::string routing_presets_dir();  // models_dir()/routing
std::vector<std::string> routing_preset_names();
// The resolved scenario as TOML (every value explicit, model dims expanded, paths absolute).
std::string scenario_to_toml(const Scenario& scenario);

}  // namespace moesim::io
