#pragma once
// Small text-input helpers for the io readers: numbered line reading, CSV field splitting (the
// one splitter: importers and sweep.csv alike) and strict number parsing (the whole field must be
// the number).
#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace moesim::io {

// A text file read line by line with 1-based numbers; skips blank lines and '#' comments.
class TextLines {
 public:
  explicit TextLines(const std::string& path) : path_(path), f_(path, std::ios::binary) {
    if (!f_) throw InputError(fmt::format("{}: cannot open", path));
  }
  bool next(std::string& line) {
    while (std::getline(f_, line)) {
      ++no_;
      if (no_ == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // UTF-8 BOM
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const auto first = line.find_first_not_of(" \t");
      if (first == std::string::npos || line[first] == '#') continue;
      return true;
    }
    return false;
  }
  std::uint64_t no() const { return no_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream f_;
  std::uint64_t no_ = 0;
};

// Spaces and tabs around an unquoted field: dropped for hand-written inputs (the importers), kept
// where a value must read back exactly as it was written (sweep.csv).
enum class CsvSpaces { trim, keep };

// Splits one CSV line into fields. A double-quoted part may hold commas, with "" for a quote
// (RFC 4180); the quotes themselves are not part of the field, nor trimmed inside.
inline std::vector<std::string> split_csv(std::string_view line, CsvSpaces spaces = CsvSpaces::trim) {
  const bool trimming = spaces == CsvSpaces::trim;
  std::vector<std::string> out(1);
  std::size_t kept = 0;  // length of the field up to its last quoted or non-blank character
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    std::string& f = out.back();
    const bool blank = c == ' ' || c == '\t';
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"')
        f += line[++i];
      else if (c == '"')
        quoted = false;
      else
        f += c;
      kept = f.size();
    } else if (c == '"') {
      quoted = true;
      kept = f.size();
    } else if (c == ',') {
      if (trimming) f.resize(kept);
      out.emplace_back();
      kept = 0;
    } else if (!(trimming && blank && f.empty())) {  // blanks before the field are dropped
      f += c;
      if (!blank) kept = f.size();
    }
  }
  if (trimming) out.back().resize(kept);
  return out;
}

inline std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

inline std::optional<double> parse_double(std::string_view s) {
  double v = 0;
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace moesim::io
