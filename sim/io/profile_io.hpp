#pragma once
// Device profiles as TOML (schema in calibrate/profiles/README.md): a strict reader that names
// file:line:col on any bad key or value, and a writer whose output the reader loads back exactly.
#include <iosfwd>
#include <string>

#include <toml++/toml.h>

#include "gpu/profile.hpp"

namespace moesim::io {

// Reads and validates a profile; throws InputError naming the file (and line, where known).
Profile load_profile(const std::string& path);
// The same for an already-parsed table; `file` names it in messages.
Profile load_profile_table(const toml::table& table, const std::string& file);

// Writes `profile` in the schema load_profile reads (every double with round-trip precision).
void write_profile(const Profile& profile, std::ostream& out);
std::string profile_to_toml(const Profile& profile);

}  // namespace moesim::io
