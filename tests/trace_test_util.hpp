#pragma once
// Helpers shared by the trace-format tests: building, writing and reading traces, and raw
// byte surgery (patching fields, hand-built blocks with valid checksums).

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "test_util.hpp"
#include "trace/trace.hpp"

#include <catch2/catch.hpp>

namespace trace_test {

using moesim::InputError;
using moesim::TraceHeader;
using moesim::TraceReader;
using moesim::TraceStep;
using moesim::TraceWriter;
using Bytes = std::vector<unsigned char>;

inline TraceHeader make_header(int layers, int experts, int top_k, int ranks, std::uint32_t flags = 0) {
  TraceHeader h;
  h.flags = flags;
  h.layers = layers;
  h.experts = experts;
  h.top_k = top_k;
  h.ranks = ranks;
  return h;
}

// A deterministic step: block b holds (seed + b) % 4 tokens (so some blocks are empty); token
// ids are distinct (a stride of 1 from a pseudo-random start) and weights are exact in f32.
inline TraceStep make_step(const TraceHeader& h, std::uint32_t index, std::uint32_t seed) {
  TraceStep s;
  s.step = index;
  const auto blocks = static_cast<std::size_t>(h.layers * h.ranks);
  if (h.counts_only()) {
    for (std::size_t i = 0; i < blocks * static_cast<std::size_t>(h.experts); ++i)
      s.counts.push_back((seed * 7 + static_cast<std::uint32_t>(i) * 13) % 9);
    return s;
  }
  std::uint32_t x = seed * 2654435761u + 1;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint32_t n = (seed + static_cast<std::uint32_t>(b)) % 4;
    s.tokens.push_back(n);
    for (std::uint32_t t = 0; t < n; ++t) {
      x = x * 1664525u + 1013904223u;
      for (int j = 0; j < h.top_k; ++j) {
        s.experts.push_back(static_cast<std::int32_t>((x >> 8) % static_cast<std::uint32_t>(h.experts) +
                                                      static_cast<std::uint32_t>(j)) %
                            h.experts);
        if (h.has_weights())
          s.weights.push_back(static_cast<float>((x >> 4) % 17 + static_cast<std::uint32_t>(j)) * 0.25f);
      }
    }
  }
  s.index(h.top_k);
  return s;
}

inline void write_trace(const std::string& path, const TraceHeader& h, const std::vector<TraceStep>& steps) {
  TraceWriter w(path, h);
  for (const auto& s : steps) w.write(s);
  w.close();
}

inline std::vector<TraceStep> read_all(const std::string& path) {
  TraceReader r(path);
  std::vector<TraceStep> out;
  TraceStep s;
  while (r.next(s)) out.push_back(s);
  return out;
}

inline void require_same(const TraceStep& a, const TraceStep& b) {
  REQUIRE(a.step == b.step);
  REQUIRE(a.tokens == b.tokens);
  REQUIRE(a.offsets == b.offsets);
  REQUIRE(a.experts == b.experts);
  REQUIRE(a.weights == b.weights);
  REQUIRE(a.counts == b.counts);
}

inline Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

inline std::string write_bytes(const std::filesystem::path& dir, const std::string& name, const Bytes& b) {
  const auto p = (dir / name).string();
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return p;
}

// Reads the whole trace; returns the InputError message, or "" when it read cleanly.
inline std::string read_error(const std::string& path) {
  try {
    read_all(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

template <class T>
inline void put(Bytes& b, T v) {
  unsigned char raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof v);
  b.insert(b.end(), raw, raw + sizeof v);
}
template <class T>
inline void patch(Bytes& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}
inline void fix_header_crc(Bytes& b) { patch<std::uint32_t>(b, 40, moesim::crc32(b.data(), 40)); }

// Hand-built files (FORMAT.md byte by byte), so a test can plant one bad value under a good CRC.
inline Bytes raw_header(std::uint32_t flags, std::uint32_t layers, std::uint32_t experts, std::uint32_t top_k,
                        std::uint32_t ranks, std::uint64_t steps) {
  Bytes b{'M', 'O', 'E', 'S', 'I', 'M', 'T', 'R'};
  for (std::uint32_t v : {1u, flags, layers, experts, top_k, ranks}) put(b, v);
  put(b, steps);
  put(b, moesim::crc32(b.data(), b.size()));
  b.resize(64, 0);
  return b;
}
inline void raw_block(Bytes& b, std::uint32_t step, const Bytes& payload) {
  const std::size_t at = b.size();
  put(b, 0x50455453u);
  put(b, step);
  put(b, static_cast<std::uint64_t>(payload.size()));
  b.insert(b.end(), payload.begin(), payload.end());
  put(b, moesim::crc32(b.data() + at, b.size() - at));
}
inline void raw_end(Bytes& b, std::uint64_t steps) {
  const std::size_t at = b.size();
  put(b, 0x454E4F44u);
  put(b, steps);
  put(b, moesim::crc32(b.data() + at, 12));
}

}  // namespace trace_test
