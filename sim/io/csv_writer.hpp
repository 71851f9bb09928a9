#pragma once
// CSV output: rows built field by field with RFC 4180 quoting, and checked file writes whose errors
// name the file and the OS reason.
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>

namespace moesim::io {

// How a text field is quoted. By default only when it must be (a comma, a quote, CR or LF inside);
// `one_line` writes CR and LF as spaces, so that every row is one physical line (sweep.csv is read
// back line by line).
struct CsvQuoting {
  bool always = false;
  bool one_line = false;
};

// A CSV document built in memory, row by row: fields are separated by commas, end_row() ends a row.
class CsvWriter {
 public:
  CsvWriter& fields(std::initializer_list<std::string_view> texts);  // e.g. column names
  CsvWriter& text(std::string_view s, CsvQuoting quoting = {});
  // A value printed with a fmt format such as "{:.4f}"; numbers never need quoting.
  template <typename T>
  CsvWriter& number(const T& value, std::string_view format = "{}") {
    separate();
    fmt::format_to(std::back_inserter(text_), fmt::runtime(format), value);
    return *this;
  }
  CsvWriter& empty(std::size_t fields = 1);  // fields left blank
  CsvWriter& end_row();

  const std::string& str() const { return text_; }
  // Writes the document to `path` (replacing it); throws Error naming the path and the reason.
  void save(const std::filesystem::path& path) const;

 private:
  void separate();

  std::string text_;
  bool row_open_ = false;
};

// A file written in pieces (sweep.csv grows a row at a time): every write is flushed and checked.
class OutputFile {
 public:
  enum class Mode { truncate, append };
  // Throws Error "cannot open PATH for writing: REASON".
  OutputFile(const std::filesystem::path& path, Mode mode);
  // Throws Error "cannot write PATH: REASON"; the text is on disk (in the OS's cache) on return.
  void write(std::string_view text);
  // Closes the file, throwing when the last of it could not be written.
  void close();
  const std::string& path() const { return path_; }

 private:
  struct Closer {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

// Writes `text` to `path` (replacing it) through OutputFile's checks.
void write_file(const std::filesystem::path& path, std::string_view text);

}  // namespace moesim::io
