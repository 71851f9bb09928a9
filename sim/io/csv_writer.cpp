// CSV writer and checked file output (see csv_writer.hpp).
#include "io/csv_writer.hpp"

#include <cerrno>
#include <cstring>

#include "core/error.hpp"

namespace moesim::io {

namespace {
// The OS's reason for the last failure (errno), or a general one when the library did not set it.
std::string reason() { return errno != 0 ? std::strerror(errno) : "I/O error"; }
}  // namespace

void CsvWriter::separate() {
  if (row_open_) text_ += ',';
  row_open_ = true;
}

CsvWriter& CsvWriter::fields(std::initializer_list<std::string_view> texts) {
  for (std::string_view t : texts) text(t);
  return *this;
}

CsvWriter& CsvWriter::text(std::string_view s, CsvQuoting quoting) {
  separate();
  if (!quoting.always && s.find_first_of(",\"\r\n") == std::string_view::npos) {
    text_ += s;
    return *this;
  }
  text_ += '"';
  for (char c : s) {
    if (c == '"') text_ += '"';  // RFC 4180: a quote inside a quoted field is doubled
    text_ += quoting.one_line && (c == '\n' || c == '\r') ? ' ' : c;
  }
  text_ += '"';
  return *this;
}

CsvWriter& CsvWriter::empty(std::size_t fields) {
  for (std::size_t i = 0; i < fields; ++i) separate();
  return *this;
}

CsvWriter& CsvWriter::end_row() {
  text_ += '\n';
  row_open_ = false;
  return *this;
}

void CsvWriter::save(const std::filesystem::path& path) const { write_file(path, text_); }

OutputFile::OutputFile(const std::filesystem::path& path, Mode mode) : path_(path.string()) {
  errno = 0;
  file_.reset(std::fopen(path_.c_str(), mode == Mode::append ? "ab" : "wb"));
  if (!file_) throw Error(fmt::format("cannot open {} for writing: {}", path_, reason()));
}

void OutputFile::write(std::string_view text) {
  if (!file_) throw Error(fmt::format("cannot write {}: already closed", path_));
  errno = 0;
  if (std::fwrite(text.data(), 1, text.size(), file_.get()) != text.size() || std::fflush(file_.get()) != 0)
    throw Error(fmt::format("cannot write {}: {}", path_, reason()));
}

void OutputFile::close() {
  if (!file_) return;
  errno = 0;
  const int rc = std::fclose(file_.release());
  if (rc != 0) throw Error(fmt::format("cannot write {}: {}", path_, reason()));
}

void write_file(const std::filesystem::path& path, std::string_view text) {
  OutputFile f(path, OutputFile::Mode::truncate);
  f.write(text);
  f.close();
}

}  // namespace moesim::io
