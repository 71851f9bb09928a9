// Strict TOML reading with located error messages (see toml_reader.hpp).
#include "io/toml_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

namespace moesim::io {

namespace {
std::string pos(const toml::source_region& r, const std::string& file) {
  if (r.begin.line == 0) return file;
  return fmt::format("{}:{}:{}", file, r.begin.line, r.begin.column);
}
}  // namespace

toml::table parse_toml_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw InputError(fmt::format("{}: is a directory, not a TOML file", path));
  // A device or pipe (/dev/zero) would never end; a missing file is left to the parser's message.
  if (std::filesystem::exists(path, ec) && !std::filesystem::is_regular_file(path, ec))
    throw InputError(fmt::format("{}: not a regular file", path));
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    if (b.line == 0) throw InputError(fmt::format("{}: {}", path, e.description()));
    throw InputError(fmt::format("{}:{}:{}: {}", path, b.line, b.column, e.description()));
  }
}

toml::table parse_toml_text(std::string_view text, const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw InputError(fmt::format("{}:{}:{}: {}", origin, b.line, b.column, e.description()));
  }
}

std::string where(const std::string& file, const toml::node* node) { return node ? pos(node->source(), file) : file; }

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
  return p.lexically_normal().string();
}

TableReader::TableReader(const toml::table& table, std::string file, std::string path)
    : table_(&table), file_(std::move(file)), path_(std::move(path)) {}

bool TableReader::has(std::string_view key) const { return table_->contains(key); }

std::string TableReader::full_key(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

void TableReader::fail(std::string_view key, const std::string& message) const {
  if (origins_) {
    const auto it = origins_->find(full_key(key));
    if (it != origins_->end()) throw InputError(fmt::format("{}: {}: {}", it->second, full_key(key), message));
  }
  const toml::node* n = table_->get(key);
  throw InputError(fmt::format("{}: {}: {}", where(file_, n ? n : table_), full_key(key), message));
}

void TableReader::fail_here(const std::string& message) const {
  const std::string name = path_.empty() ? std::string("(top level)") : path_;
  throw InputError(fmt::format("{}: {}: {}", where(file_, table_), name, message));
}

namespace {
// Levenshtein distance, to spot a misspelt key next to a missing one.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}
}  // namespace

void TableReader::missing(std::string_view key, const char* what) const {
  // A required key is often missing because it is misspelt: point at the misspelling instead.
  for (const auto& [k, v] : *table_) {
    if (used_.count(k.str()) == 0 && edit_distance(k.str(), key) <= 2)
      throw InputError(
          fmt::format("{}: unknown key \"{}\" (did you mean \"{}\"?)", pos(k.source(), file_), full_key(k.str()), key));
  }
  fail(key, fmt::format("required {} is missing", what));
}

const toml::node* TableReader::node(std::string_view key) {
  const toml::node* n = table_->get(key);
  if (n) used_.emplace(key);
  return n;
}

std::string TableReader::string(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) missing(key, "key");
  if (!n->is_string()) fail(key, "expected a string");
  return std::string(n->as_string()->get());
}

std::string TableReader::string_or(std::string_view key, const std::string& fallback) {
  return has(key) ? string(key) : fallback;
}

std::int64_t TableReader::integer(std::string_view key, std::int64_t min, std::int64_t max) {
  const toml::node* n = node(key);
  if (!n) missing(key, "key");
  if (!n->is_integer()) fail(key, "expected an integer");
  const std::int64_t v = n->as_integer()->get();
  if (v < min || v > max) fail(key, fmt::format("value {} is out of range [{}, {}]", v, min, max));
  return v;
}

std::int64_t TableReader::integer_or(std::string_view key, std::int64_t fallback, std::int64_t min, std::int64_t max) {
  return has(key) ? integer(key, min, max) : fallback;
}

double TableReader::number(std::string_view key, double min, double max) {
  const toml::node* n = node(key);
  if (!n) missing(key, "key");
  double v = 0;
  if (n->is_integer()) {
    v = static_cast<double>(n->as_integer()->get());
  } else if (n->is_floating_point()) {
    v = n->as_floating_point()->get();
  } else {
    fail(key, "expected a number");
  }
  if (!std::isfinite(v)) fail(key, "value must be finite");
  if (v < min || v > max) fail(key, fmt::format("value {} is out of range [{}, {}]", v, min, max));
  return v;
}

double TableReader::number_or(std::string_view key, double fallback, double min, double max) {
  return has(key) ? number(key, min, max) : fallback;
}

bool TableReader::boolean(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) missing(key, "key");
  if (!n->is_boolean()) fail(key, "expected true or false");
  return n->as_boolean()->get();
}

bool TableReader::boolean_or(std::string_view key, bool fallback) { return has(key) ? boolean(key) : fallback; }

std::string TableReader::choice(std::string_view key, const std::vector<std::string>& choices) {
  std::string v = string(key);
  for (const auto& c : choices)
    if (c == v) return v;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  fail(key, fmt::format("unknown value \"{}\" (expected one of: {})", v, list));
}

std::string TableReader::choice_or(std::string_view key, const std::string& fallback,
                                   const std::vector<std::string>& choices) {
  return has(key) ? choice(key, choices) : fallback;
}

std::vector<double> TableReader::numbers(std::string_view key, double min, double max) {
  const toml::node* n = node(key);
  if (!n) missing(key, "key");
  const toml::array* arr = n->as_array();
  if (!arr) fail(key, "expected an array of numbers");
  std::vector<double> out;
  out.reserve(arr->size());
  for (const toml::node& el : *arr) {
    double v = 0;
    if (el.is_integer()) {
      v = static_cast<double>(el.as_integer()->get());
    } else if (el.is_floating_point()) {
      v = el.as_floating_point()->get();
    } else {
      throw InputError(fmt::format("{}: {}: array element is not a number", where(file_, &el), full_key(key)));
    }
    if (!std::isfinite(v) || v < min || v > max)
      throw InputError(fmt::format("{}: {}: array element {} is out of range [{}, {}]", where(file_, &el),
                                   full_key(key), v, min, max));
    out.push_back(v);
  }
  return out;
}

std::vector<double> TableReader::numbers_or(std::string_view key, std::vector<double> fallback, double min,
                                            double max) {
  return has(key) ? numbers(key, min, max) : fallback;
}

TableReader TableReader::table(std::string_view key) {
  const toml::node* n = node(key);
  if (!n) missing(key, "table");
  if (!n->is_table()) fail(key, "expected a table");
  TableReader sub(*n->as_table(), file_, full_key(key));
  sub.origins_ = origins_;
  return sub;
}

std::optional<TableReader> TableReader::table_opt(std::string_view key) {
  if (!has(key)) return std::nullopt;
  return table(key);
}

std::vector<TableReader> TableReader::tables(std::string_view key) {
  std::vector<TableReader> out;
  const toml::node* n = node(key);
  if (!n) return out;
  const toml::array* arr = n->as_array();
  if (!arr) fail(key, "expected an array of tables ([[" + full_key(key) + "]])");
  std::size_t i = 0;
  for (const toml::node& el : *arr) {
    if (!el.is_table())
      throw InputError(fmt::format("{}: {}: element is not a table", where(file_, &el), full_key(key)));
    out.emplace_back(*el.as_table(), file_, fmt::format("{}[{}]", full_key(key), i++));
    out.back().origins_ = origins_;
  }
  return out;
}

void TableReader::finish() const {
  for (const auto& [k, v] : *table_) {
    if (used_.find(k.str()) != used_.end()) continue;
    std::string at = pos(k.source(), file_);
    if (origins_) {
      const auto it = origins_->find(full_key(k.str()));
      if (it != origins_->end()) at = it->second;
    }
    throw InputError(fmt::format("{}: unknown key \"{}\"", at, full_key(k.str())));
  }
}

}  // namespace moesim::io
