#pragma once
// Streaming reader of NumPy .npy arrays (format v1-v3, little-endian integer or float64, C order):
// parses the header dict itself and decodes the data in chunks; errors name byte offsets.
#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace moesim::io {

static_assert(std::endian::native == std::endian::little, ".npy decoding assumes a little-endian host");

// Opens the file and checks the header: the dtype must be one of `dtypes` (numpy descr strings such
// as "<i2"), C order, and the file exactly as long as the shape says. Then read() streams elements.
class NpyReader {
 public:
  NpyReader(const std::string& path, std::initializer_list<const char*> dtypes)
      : path_(path), f_(path, std::ios::binary) {
    if (!f_) throw InputError(fmt::format("{}: cannot open", path));
    std::error_code ec;
    size_ = std::filesystem::file_size(path, ec);
    if (ec) throw InputError(fmt::format("{}: cannot open ({})", path, ec.message()));
    if (size_ == 0) fail(0, "empty input (0 bytes)");
    unsigned char pre[12] = {};
    read_at(0, pre, std::min<std::uint64_t>(size_, 12));
    if (size_ < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0) fail(0, "not a .npy file (bad magic)");
    if (pre[6] < 1 || pre[6] > 3) fail(6, fmt::format("unsupported .npy version {}.{}", pre[6], pre[7]));
    const std::uint64_t len_at = pre[6] == 1 ? 10 : 12;
    if (size_ < len_at) fail(size_, "truncated .npy preamble");
    const std::uint64_t hlen = pre[6] == 1 ? pre[8] | (pre[9] << 8)
                                           : pre[8] | (pre[9] << 8) | (pre[10] << 16) | (std::uint64_t{pre[11]} << 24);
    if (size_ < len_at + hlen) fail(size_, fmt::format("truncated .npy header ({} bytes announced)", hlen));
    std::string text(hlen, '\0');
    read_at(len_at, text.data(), hlen);
    parse_dict(text, len_at);
    data_ = len_at + hlen;
    dict_at_ = len_at;
    const bool ok = std::any_of(dtypes.begin(), dtypes.end(), [&](const char* d) { return descr_ == d; });
    if (!ok) {
      std::string list;
      for (const char* d : dtypes) list += fmt::format("{}'{}'", list.empty() ? "" : ", ", d);
      fail(len_at, fmt::format("dtype '{}' is not supported here (expected {})", descr_, list));
    }
    if (fortran_) fail(len_at, "fortran_order arrays are not supported (save a C-ordered array)");
    kind_ = descr_[1];
    item_ = descr_[2] - '0';
    count_ = 1;
    for (auto d : shape_) {
      if (d != 0 && count_ > std::numeric_limits<std::uint64_t>::max() / 16 / d) fail(len_at, "shape is too large");
      count_ *= d;
    }
    const std::uint64_t need = count_ * static_cast<std::uint64_t>(item_);
    if (size_ - data_ < need)
      fail(size_, fmt::format("truncated: shape needs {} data bytes from byte {}, the file has {}", need, data_,
                              size_ - data_));
    if (size_ - data_ > need)
      fail(data_ + need, fmt::format("{} trailing bytes after the array data", size_ - data_ - need));
    f_.seekg(static_cast<std::streamoff>(data_));
  }

  const std::vector<std::uint64_t>& shape() const { return shape_; }
  std::string shape_text() const {
    std::string s;
    for (auto d : shape_) s += fmt::format("{}{}", s.empty() ? "" : ", ", d);
    return "(" + s + (shape_.size() == 1 ? ",)" : ")");  // as Python writes tuples
  }
  std::uint64_t header_at() const { return dict_at_; }  // where the header dict starts
  std::uint64_t offset_of(std::uint64_t element) const { return data_ + element * static_cast<std::uint64_t>(item_); }
  void rewind() {
    pos_ = 0;
    f_.clear();
    f_.seekg(static_cast<std::streamoff>(data_));
  }
  std::uint64_t pos() const { return pos_; }
  [[noreturn]] void fail(std::uint64_t at, const std::string& what) const {
    throw InputError(fmt::format("{}: byte {}: {}", path_, at, what));
  }

  // Reads the next n elements as integers; non-integral float values are errors.
  void read(std::size_t n, std::vector<std::int64_t>& out) {
    raw_.resize(n * static_cast<std::size_t>(item_));
    f_.read(reinterpret_cast<char*>(raw_.data()), static_cast<std::streamsize>(raw_.size()));
    if (static_cast<std::size_t>(f_.gcount()) != raw_.size())
      fail(offset_of(pos_) + f_.gcount(), "truncated array data");
    out.resize(n);
    const unsigned char* p = raw_.data();
    for (std::size_t i = 0; i < n; ++i, p += item_) {
      if (kind_ == 'f') {
        double d;
        std::memcpy(&d, p, 8);
        if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15)
          fail(offset_of(pos_ + i), fmt::format("value {} is not an integer", d));
        out[i] = static_cast<std::int64_t>(d);
      } else if (item_ == 2) {
        std::int16_t v;
        std::memcpy(&v, p, 2);
        out[i] = v;
      } else if (item_ == 4) {
        std::int32_t v;
        std::memcpy(&v, p, 4);
        out[i] = v;
      } else {
        std::memcpy(&out[i], p, 8);
      }
    }
    pos_ += n;
  }

 private:
  void read_at(std::uint64_t at, void* dst, std::uint64_t n) {
    f_.seekg(static_cast<std::streamoff>(at));
    f_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (static_cast<std::uint64_t>(f_.gcount()) != n) fail(at + f_.gcount(), "truncated .npy header");
  }

  // The header is a Python dict literal: {'descr': '<i2', 'fortran_order': False, 'shape': (64, 2, 2), }
  void parse_dict(const std::string& t, std::uint64_t base) {
    std::size_t i = 0;
    auto bad = [&](const std::string& what) { fail(base + i, "bad .npy header: " + what); };
    auto ws = [&] {
      while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
    };
    auto eat = [&](char c) {
      ws();
      if (i >= t.size() || t[i] != c) bad(fmt::format("expected '{}'", c));
      ++i;
    };
    auto str = [&] {
      ws();
      if (i >= t.size() || (t[i] != '\'' && t[i] != '"')) bad("expected a quoted string");
      const char q = t[i++];
      const auto end = t.find(q, i);
      if (end == std::string::npos) bad("unterminated string");
      std::string s = t.substr(i, end - i);
      i = end + 1;
      return s;
    };
    bool seen[3] = {};
    eat('{');
    for (ws(); i < t.size() && t[i] != '}'; ws()) {
      const std::string key = str();
      eat(':');
      ws();
      if (key == "descr") {
        descr_ = str();
        seen[0] = true;
      } else if (key == "fortran_order") {
        if (t.compare(i, 4, "True") == 0) {
          fortran_ = true;
          i += 4;
        } else if (t.compare(i, 5, "False") == 0) {
          fortran_ = false;
          i += 5;
        } else
          bad("fortran_order must be True or False");
        seen[1] = true;
      } else if (key == "shape") {
        eat('(');
        for (ws(); i < t.size() && t[i] != ')'; ws()) {
          std::uint64_t v = 0;
          const auto [p, ec] = std::from_chars(t.data() + i, t.data() + t.size(), v);
          if (ec != std::errc()) bad("expected a dimension");
          i = static_cast<std::size_t>(p - t.data());
          if (i < t.size() && t[i] == 'L') ++i;  // Python 2 long
          shape_.push_back(v);
          ws();
          if (i < t.size() && t[i] == ',') ++i;
        }
        eat(')');
        seen[2] = true;
      } else {
        bad(fmt::format("unknown key '{}'", key));
      }
      ws();
      if (i < t.size() && t[i] == ',') ++i;
    }
    eat('}');
    if (!seen[0] || !seen[1] || !seen[2]) {
      i = 0;
      bad("descr, fortran_order and shape are required");
    }
  }

  std::string path_;
  std::ifstream f_;
  std::uint64_t size_ = 0, data_ = 0, dict_at_ = 0, count_ = 0, pos_ = 0;
  std::string descr_;
  bool fortran_ = false;
  std::vector<std::uint64_t> shape_;
  char kind_ = 'i';
  int item_ = 0;
  std::vector<unsigned char> raw_;
};

}  // namespace moesim::io
