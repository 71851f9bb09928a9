#pragma once
// Strict TOML reading: every value is fetched through a TableReader, which checks type and range
// and reports "file:line:col: message"; finish() rejects keys nobody asked for (typos).
#include <toml++/toml.h>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace moesim::io {

// Parses a TOML file; a syntax error becomes an InputError naming file:line:col.
toml::table parse_toml_file(const std::string& path);
// Parses TOML text; `origin` names it in errors.
toml::table parse_toml_text(std::string_view text, const std::string& origin);

// "file:line:col" for a node (or just "file" when the node has no source position).
std::string where(const std::string& file, const toml::node* node);

// A path as written in a file: relative ones resolve against `base_dir` (the file's directory).
std::string resolve_path(const std::string& base_dir, const std::string& path);

class TableReader {
 public:
  // `path` is the dotted name of this table inside the file ("" for the root), used in messages.
  TableReader(const toml::table& table, std::string file, std::string path = "");
  // Values that came from elsewhere than the file (full dotted key -> origin, e.g. "--set a.b=1"):
  // errors about them name that origin instead of a line in the file. Shared with sub-tables.
  void set_origins(std::shared_ptr<const std::map<std::string, std::string>> origins) { origins_ = std::move(origins); }

  bool has(std::string_view key) const;

  // Typed access; a missing required key, a wrong type or an out-of-range value throws InputError.
  std::string string(std::string_view key);
  std::string string_or(std::string_view key, const std::string& fallback);
  std::int64_t integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::int64_t integer_or(std::string_view key, std::int64_t fallback, std::int64_t min, std::int64_t max);
  double number(std::string_view key, double min, double max);  // accepts integers too
  double number_or(std::string_view key, double fallback, double min, double max);
  bool boolean(std::string_view key);
  bool boolean_or(std::string_view key, bool fallback);
  // A string that must be one of `choices`.
  std::string choice(std::string_view key, const std::vector<std::string>& choices);
  std::string choice_or(std::string_view key, const std::string& fallback, const std::vector<std::string>& choices);
  std::vector<double> numbers(std::string_view key, double min, double max);  // array of numbers
  std::vector<double> numbers_or(std::string_view key, std::vector<double> fallback, double min, double max);

  // Sub-tables: required, or std::nullopt when absent.
  TableReader table(std::string_view key);
  std::optional<TableReader> table_opt(std::string_view key);
  // Array of tables ([[key]]); empty when absent.
  std::vector<TableReader> tables(std::string_view key);

  // Throws InputError for the first key in this table that no accessor consumed.
  void finish() const;

  // Throws InputError located at `key` (or at the table when the key is absent).
  [[noreturn]] void fail(std::string_view key, const std::string& message) const;
  [[noreturn]] void fail_here(const std::string& message) const;

  const std::string& file() const { return file_; }
  std::string full_key(std::string_view key) const;
  const toml::table& raw() const { return *table_; }

 private:
  const toml::node* node(std::string_view key);  // marks the key consumed
  [[noreturn]] void missing(std::string_view key, const char* what) const;
  const toml::table* table_;
  std::string file_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
  std::shared_ptr<const std::map<std::string, std::string>> origins_;
};

}  // namespace moesim::io
