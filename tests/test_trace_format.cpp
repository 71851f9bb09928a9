// Tests for the routing-trace format (sim/trace/FORMAT.md): exact round trips, every corruption
// and truncation caught as InputError naming the byte, writer validation, Python-writer interop.
#include <catch2/catch.hpp>

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

using moesim::InputError;
using moesim::TraceHeader;
using moesim::TraceReader;
using moesim::TraceStep;
using moesim::TraceWriter;
using Bytes = std::vector<unsigned char>;

namespace {

TraceHeader make_header(int layers, int experts, int top_k, int ranks, std::uint32_t flags = 0) {
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
TraceStep make_step(const TraceHeader& h, std::uint32_t index, std::uint32_t seed) {
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

void write_trace(const std::string& path, const TraceHeader& h, const std::vector<TraceStep>& steps) {
  TraceWriter w(path, h);
  for (const auto& s : steps) w.write(s);
  w.close();
}

std::vector<TraceStep> read_all(const std::string& path) {
  TraceReader r(path);
  std::vector<TraceStep> out;
  TraceStep s;
  while (r.next(s)) out.push_back(s);
  return out;
}

void require_same(const TraceStep& a, const TraceStep& b) {
  REQUIRE(a.step == b.step);
  REQUIRE(a.tokens == b.tokens);
  REQUIRE(a.offsets == b.offsets);
  REQUIRE(a.experts == b.experts);
  REQUIRE(a.weights == b.weights);
  REQUIRE(a.counts == b.counts);
}

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

std::string write_bytes(const std::filesystem::path& dir, const std::string& name, const Bytes& b) {
  const auto p = (dir / name).string();
  std::ofstream(p, std::ios::binary)
      .write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  return p;
}

// Reads the whole trace; returns the InputError message, or "" when it read cleanly.
std::string read_error(const std::string& path) {
  try {
    read_all(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

template <class T>
void put(Bytes& b, T v) {
  unsigned char raw[sizeof(T)];
  std::memcpy(raw, &v, sizeof v);
  b.insert(b.end(), raw, raw + sizeof v);
}
template <class T>
void patch(Bytes& b, std::size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}
void fix_header_crc(Bytes& b) { patch<std::uint32_t>(b, 40, moesim::crc32(b.data(), 40)); }

// Hand-built files (FORMAT.md byte by byte), so a test can plant one bad value under a good CRC.
Bytes raw_header(std::uint32_t flags, std::uint32_t layers, std::uint32_t experts, std::uint32_t top_k,
                 std::uint32_t ranks, std::uint64_t steps) {
  Bytes b{'M', 'O', 'E', 'S', 'I', 'M', 'T', 'R'};
  for (std::uint32_t v : {1u, flags, layers, experts, top_k, ranks}) put(b, v);
  put(b, steps);
  put(b, moesim::crc32(b.data(), b.size()));
  b.resize(64, 0);
  return b;
}
void raw_block(Bytes& b, std::uint32_t step, const Bytes& payload) {
  const std::size_t at = b.size();
  put(b, 0x50455453u);
  put(b, step);
  put(b, static_cast<std::uint64_t>(payload.size()));
  b.insert(b.end(), payload.begin(), payload.end());
  put(b, moesim::crc32(b.data() + at, b.size() - at));
}
void raw_end(Bytes& b, std::uint64_t steps) {
  const std::size_t at = b.size();
  put(b, 0x454E4F44u);
  put(b, steps);
  put(b, moesim::crc32(b.data() + at, 12));
}

}  // namespace

TEST_CASE("crc32 is the IEEE 802.3 CRC (zlib's) and chains") {
  REQUIRE(moesim::crc32("123456789", 9) == 0xCBF43926u);  // the standard check value
  REQUIRE(moesim::crc32("", 0) == 0u);
  // Against a bit-at-a-time reference for every length 0..99 (exercises the slicing tail).
  std::vector<unsigned char> data(100);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<unsigned char>(i * 37 + 11);
  for (std::size_t n = 0; n < data.size(); ++n) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (std::size_t i = 0; i < n; ++i) {
      c ^= data[i];
      for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    }
    REQUIRE(moesim::crc32(data.data(), n) == ~c);
    REQUIRE(moesim::crc32(data.data() + n, data.size() - n, moesim::crc32(data.data(), n)) ==
            moesim::crc32(data.data(), data.size()));
  }
}

TEST_CASE("trace round trip is exact in every form") {
  const auto dir = moesim::test::scratch_dir("trace-roundtrip");
  const auto path = (dir / "t.trace").string();
  const TraceHeader forms[] = {
      make_header(2, 16, 3, 3),
      make_header(3, 64, 4, 2, TraceHeader::kFlagWeights),
      make_header(2, 70000, 8, 2, TraceHeader::kFlagWeights),  // > 65535 experts: wide ids
      make_header(2, 300, 2, 3, TraceHeader::kFlagWideIds),    // wide ids by choice
      make_header(3, 10, 2, 4, TraceHeader::kFlagCountsOnly),
  };
  for (const auto& h : forms) {
    std::vector<TraceStep> steps;
    for (std::uint32_t s = 0; s < 6; ++s) steps.push_back(make_step(h, 100 + 3 * s, s));
    write_trace(path, h, steps);
    TraceReader r(path);
    REQUIRE(r.header().layers == h.layers);
    REQUIRE(r.header().experts == h.experts);
    REQUIRE(r.header().top_k == h.top_k);
    REQUIRE(r.header().ranks == h.ranks);
    REQUIRE(r.header().steps == 6);
    REQUIRE(r.header().flags == (h.flags | (h.experts > 65535 ? TraceHeader::kFlagWideIds : 0u)));
    const auto got = read_all(path);
    REQUIRE(got.size() == steps.size());
    for (std::size_t i = 0; i < steps.size(); ++i) require_same(got[i], steps[i]);
  }
}

TEST_CASE("many steps stream back, and rewind starts over") {
  const auto dir = moesim::test::scratch_dir("trace-many");
  const auto path = (dir / "t.trace").string();
  const auto h = make_header(4, 32, 2, 5, TraceHeader::kFlagWeights);
  std::vector<TraceStep> steps;
  for (std::uint32_t s = 0; s < 300; ++s) steps.push_back(make_step(h, s, s * 5 + 1));
  write_trace(path, h, steps);
  TraceReader r(path);
  TraceStep s;
  for (int i = 0; i < 120; ++i) REQUIRE(r.next(s));
  r.rewind();
  for (const auto& want : steps) {
    REQUIRE(r.next(s));
    require_same(s, want);
  }
  REQUIRE_FALSE(r.next(s));
  REQUIRE_FALSE(r.next(s));  // stays at the end
  REQUIRE(r.bytes_read() == std::filesystem::file_size(path));
  r.rewind();
  REQUIRE(r.next(s));
  require_same(s, steps[0]);
}

TEST_CASE("a closed trace with no steps is valid and 80 bytes") {
  const auto dir = moesim::test::scratch_dir("trace-empty-closed");
  const auto path = (dir / "t.trace").string();
  write_trace(path, make_header(1, 8, 2, 1), {});
  REQUIRE(std::filesystem::file_size(path) == 80);
  REQUIRE(read_all(path).empty());
}

TEST_CASE("a trace truncated at any byte is rejected with the byte where it ends") {
  const auto dir = moesim::test::scratch_dir("trace-truncated");
  const auto h = make_header(2, 12, 3, 2, TraceHeader::kFlagWeights);
  const auto full_path = (dir / "full.trace").string();
  write_trace(full_path, h, {make_step(h, 0, 1), make_step(h, 1, 2)});
  const Bytes full = read_bytes(full_path);
  REQUIRE(full.size() > 200);
  for (std::size_t n = 0; n < full.size(); ++n) {
    const auto path = write_bytes(dir, "cut.trace", Bytes(full.begin(), full.begin() + static_cast<long>(n)));
    const std::string msg = read_error(path);
    INFO("truncated to " << n << " bytes: " << msg);
    REQUIRE(msg.find(path) != std::string::npos);
    REQUIRE(msg.find(fmt::format("byte {}:", n)) != std::string::npos);
  }
  REQUIRE(read_error(full_path).empty());
}

TEST_CASE("any single flipped byte is detected") {
  const auto dir = moesim::test::scratch_dir("trace-flip");
  const auto h = make_header(2, 12, 3, 2, TraceHeader::kFlagWeights);
  const auto full_path = (dir / "full.trace").string();
  write_trace(full_path, h, {make_step(h, 0, 1), make_step(h, 1, 2)});
  const Bytes full = read_bytes(full_path);
  for (std::size_t i = 0; i < full.size(); ++i) {
    for (const unsigned char mask : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
      Bytes b = full;
      b[i] = static_cast<unsigned char>(b[i] ^ mask);
      const auto path = write_bytes(dir, "flip.trace", b);
      INFO("byte " << i << " mask " << int(mask));
      REQUIRE(read_error(path).find("byte ") != std::string::npos);
    }
  }
  // Random multi-byte damage: an error or (never, barring a CRC collision) a clean read; no crash.
  std::mt19937 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    Bytes b = full;
    for (int k = 0; k < 1 + trial % 5; ++k) b[rng() % b.size()] = static_cast<unsigned char>(rng());
    REQUIRE_FALSE(read_error(write_bytes(dir, "rand.trace", b)).empty());
  }
}

TEST_CASE("corrupt traces name the path and the offending byte") {
  const auto dir = moesim::test::scratch_dir("trace-corrupt");
  const auto h = make_header(2, 12, 3, 2);
  const auto good_path = (dir / "good.trace").string();
  write_trace(good_path, h, {make_step(h, 0, 1), make_step(h, 1, 2)});
  const Bytes good = read_bytes(good_path);
  const auto expect = [&](const Bytes& b, std::uint64_t byte, const std::string& what) {
    const auto path = write_bytes(dir, "bad.trace", b);
    const std::string msg = read_error(path);
    INFO(msg);
    REQUIRE(msg.find(path + ": byte " + std::to_string(byte) + ": ") == 0);
    REQUIRE(msg.find(what) != std::string::npos);
  };

  SECTION("empty file") { expect({}, 0, "empty file"); }
  SECTION("wrong magic") {
    Bytes b = good;
    b[3] = 'X';
    expect(b, 0, "not a moesim trace");
  }
  SECTION("unsupported version") {
    Bytes b = good;
    patch<std::uint32_t>(b, 8, 2);
    expect(b, 8, "unsupported trace version 2");
  }
  SECTION("header checksum") {
    Bytes b = good;
    b[20] ^= 1;
    expect(b, 40, "header checksum mismatch");
  }
  SECTION("header field out of range") {
    Bytes b = good;
    patch<std::uint32_t>(b, 16, 0);
    fix_header_crc(b);
    expect(b, 16, "layers 0 out of range");
    patch<std::uint32_t>(b, 16, 2);
    patch<std::uint32_t>(b, 24, 13);  // top_k > experts
    fix_header_crc(b);
    expect(b, 24, "top_k 13 out of range [1, 12]");
  }
  SECTION("payload checksum: the error points at the block's CRC") {
    // Block 0 starts at 64; its payload length is at 72; its CRC follows the payload.
    std::uint64_t len = 0;
    std::memcpy(&len, good.data() + 72, 8);
    Bytes b = good;
    b[64 + 16 + 5] ^= 0x40;
    expect(b, 64 + 16 + len, "checksum mismatch");
  }
  SECTION("not closed: steps = 0 and no end marker") {
    Bytes b(good.begin(), good.end() - 16);
    patch<std::uint64_t>(b, 32, 0);
    fix_header_crc(b);
    expect(b, 32, "trace was not closed");
  }
  SECTION("more steps than the header says") {
    Bytes b = good;
    patch<std::uint64_t>(b, 32, 1);
    fix_header_crc(b);
    std::uint64_t len = 0;
    std::memcpy(&len, good.data() + 72, 8);
    expect(b, 64 + 16 + len + 4, "more steps than the header's 1");
  }
  SECTION("fewer steps than the header says") {
    Bytes b = good;
    patch<std::uint64_t>(b, 32, 3);
    fix_header_crc(b);
    expect(b, good.size() - 16, "end marker after 2 steps, but the header says 3");
  }
  SECTION("trailing garbage") {
    Bytes b = good;
    b.push_back(0);
    expect(b, good.size(), "trailing data");
  }
}

TEST_CASE("hand-built payloads with valid checksums are still validated") {
  const auto dir = moesim::test::scratch_dir("trace-raw");
  const auto expect = [&](const Bytes& b, std::uint64_t byte, const std::string& what) {
    const auto path = write_bytes(dir, "raw.trace", b);
    const std::string msg = read_error(path);
    INFO(msg);
    REQUIRE(msg.find(path + ": byte " + std::to_string(byte) + ": ") == 0);
    REQUIRE(msg.find(what) != std::string::npos);
  };
  // One layer, one rank, top-2 of 4 experts; the payload starts at byte 64 + 16 = 80:
  // u32 token count at 80, u16 ids at 84 and 86, then (with weights) f32 weights at 88 and 92.
  const auto file = [](std::uint32_t flags, const Bytes& payload) {
    Bytes b = raw_header(flags, 1, 4, 2, 1, 1);
    raw_block(b, 0, payload);
    raw_end(b, 1);
    return b;
  };
  const auto ids_payload = [](std::uint16_t a, std::uint16_t c) {
    Bytes p;
    put<std::uint32_t>(p, 1);
    put(p, a);
    put(p, c);
    return p;
  };
  SECTION("a good hand-built file reads back") {
    const auto got = read_all(write_bytes(dir, "ok.trace", file(0, ids_payload(3, 1))));
    REQUIRE(got.size() == 1);
    REQUIRE(got[0].experts == std::vector<std::int32_t>{3, 1});
  }
  SECTION("expert id >= experts") { expect(file(0, ids_payload(1, 4)), 86, "expert id 4 >= experts 4"); }
  SECTION("duplicate ids in one token") { expect(file(0, ids_payload(2, 2)), 86, "expert id 2 appears twice"); }
  SECTION("duplicate ids in a top-8 token, wherever they sit") {
    for (std::uint16_t i = 0; i < 8; ++i) {
      for (std::uint16_t j = static_cast<std::uint16_t>(i + 1); j < 8; ++j) {
        Bytes p;
        put<std::uint32_t>(p, 2);  // token 0 is fine; token 1 repeats id i at position j
        for (std::uint16_t e = 0; e < 8; ++e) put<std::uint16_t>(p, static_cast<std::uint16_t>(15 - e));
        for (std::uint16_t e = 0; e < 8; ++e) put<std::uint16_t>(p, e == j ? i : e);
        Bytes b = raw_header(0, 1, 16, 8, 1, 1);
        raw_block(b, 0, p);
        raw_end(b, 1);
        // Token 1's ids start at payload byte 4 + 16, i.e. file byte 80 + 20.
        expect(b, 100u + 2u * j, fmt::format("token 1: expert id {} appears twice", i));
      }
    }
  }
  SECTION("bad weights") {
    for (float w : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), -0.5f}) {
      Bytes p = ids_payload(0, 1);
      put(p, 0.5f);
      put(p, w);
      expect(file(TraceHeader::kFlagWeights, p), 92, "is not finite and non-negative");
    }
  }
  SECTION("payload length disagrees with the token counts") {
    Bytes p = ids_payload(0, 1);
    p.push_back(0);
    expect(file(0, p), 72, "bad payload length 9");
    Bytes q;
    put<std::uint32_t>(q, 5);  // 5 tokens announced, none present
    expect(file(0, q), 72, "bad payload length 4");
  }
  SECTION("hostile sizes fail before allocating") {
    Bytes b = raw_header(TraceHeader::kFlagWideIds, 4096, 1 << 20, 64, 65536, 1);  // 2^28 blocks, tiny file
    raw_end(b, 1);
    expect(b, b.size(), "unexpected end of file");
    Bytes c = raw_header(0, 1, 4, 2, 1, 1);
    put(c, 0x50455453u);
    put(c, 0u);
    put<std::uint64_t>(c, std::uint64_t{1} << 30);  // 1 GiB payload declared, none present
    c.resize(c.size() + 64, 0);
    expect(c, c.size(), "declares a 1073741824-byte payload");
    patch<std::uint64_t>(c, 72, std::uint64_t{1} << 40);
    expect(c, 72, "bad payload length 1099511627776 (limit 1073741824)");
  }
  SECTION("counts-only count over the limit") {
    Bytes p;
    for (std::uint32_t v : {1u, 2u, (1u << 24) + 1, 0u}) put(p, v);
    Bytes b = raw_header(TraceHeader::kFlagCountsOnly, 1, 4, 2, 1, 1);
    raw_block(b, 0, p);
    raw_end(b, 1);
    expect(b, 80 + 8, "expert 2: count 16777217 exceeds the limit");
  }
}

TEST_CASE("a writer that did not finish leaves a trace readers reject") {
  const auto dir = moesim::test::scratch_dir("trace-unfinished");
  const auto path = (dir / "t.trace").string();
  const auto h = make_header(2, 12, 3, 2);
  try {
    TraceWriter w(path, h);
    w.write(make_step(h, 0, 1));
    throw std::runtime_error("producer failed");  // the destructor runs while unwinding
  } catch (const std::runtime_error&) {
  }
  const std::string msg = read_error(path);
  REQUIRE(msg.find(path + ": byte 32: trace was not closed") == 0);
  { TraceWriter w(path, h); }  // an ordinary scope exit closes: a valid empty trace
  REQUIRE(read_error(path).empty());
}

TEST_CASE("the writer rejects bad headers and bad steps, naming step and block") {
  const auto dir = moesim::test::scratch_dir("trace-writer");
  const auto path = (dir / "t.trace").string();
  REQUIRE_THROWS_AS(TraceWriter(path, make_header(0, 8, 2, 1)), InputError);
  REQUIRE_THROWS_AS(TraceWriter(path, make_header(1, 8, 9, 1)), InputError);  // top_k > experts
  REQUIRE_THROWS_AS(TraceWriter(path, make_header(1, (1 << 20) + 1, 2, 1)), InputError);
  REQUIRE_THROWS_AS(TraceWriter(path, make_header(1, 8, 2, 1, 1u << 5)), InputError);  // unknown flag
  REQUIRE_THROWS_AS(
      TraceWriter(path, make_header(1, 8, 2, 1, TraceHeader::kFlagCountsOnly | TraceHeader::kFlagWeights)), InputError);
  REQUIRE_THROWS_AS(TraceWriter((dir / "no-such-dir" / "t.trace").string(), make_header(1, 8, 2, 1)), moesim::Error);

  const auto h = make_header(2, 8, 2, 2, TraceHeader::kFlagWeights);
  TraceWriter w(path, h);
  const TraceStep good = make_step(h, 7, 3);
  const auto rejects = [&](const TraceStep& s, const std::string& what) {
    try {
      w.write(s);
      FAIL("accepted a bad step");
    } catch (const InputError& e) {
      INFO(e.what());
      REQUIRE(std::string(e.what()).find(path + ": step 7: ") == 0);
      REQUIRE(std::string(e.what()).find(what) != std::string::npos);
    }
  };
  // make_step(h, 7, 3): block b has (3 + b) % 4 tokens, so block 1 (layer 0 rank 1) has none and
  // block 2 (layer 1 rank 0) has one token, whose ids start at offset 3 * 2 = 6.
  REQUIRE(good.tokens == std::vector<std::uint32_t>{3, 0, 1, 2});
  TraceStep s = good;
  s.experts[6] = 8;
  rejects(s, "layer 1 rank 0 token 0: expert id 8 is outside [0, 8)");
  s = good;
  s.experts[7] = -1;
  rejects(s, "layer 1 rank 0 token 0: expert id -1");
  s = good;
  s.experts[7] = s.experts[6];
  rejects(s, "layer 1 rank 0 token 0: expert id");
  s = good;
  s.weights[6] = std::numeric_limits<float>::quiet_NaN();
  rejects(s, "layer 1 rank 0 token 0: weight nan");
  s = good;
  s.weights[2] = -1.0f;
  rejects(s, "layer 0 rank 0 token 1: weight -1");
  s = good;
  s.weights.clear();
  rejects(s, "weights has 0 entries");
  s = good;
  s.tokens.pop_back();
  rejects(s, "tokens has 3 entries");
  s = good;
  s.tokens[3] = 5;
  rejects(s, "layer 1 rank 1: offset");
  s = good;
  s.counts = {1};
  rejects(s, "has counts");
  // Rejected steps leave nothing behind: the trace still reads back with the good steps only.
  w.write(good);
  w.close();
  REQUIRE_THROWS_AS(w.write(good), moesim::Error);
  const auto got = read_all(path);
  REQUIRE(got.size() == 1);
  require_same(got[0], good);

  TraceWriter c((dir / "c.trace").string(), make_header(1, 3, 1, 2, TraceHeader::kFlagCountsOnly));
  TraceStep cs;
  cs.step = 4;
  cs.counts = {1, 2, 3, 4, 5};
  REQUIRE_THROWS_WITH(c.write(cs), Catch::Contains("step 4: counts has 5 entries, expected 6"));
  cs.counts = {1, 2, 3, 4, 5, (1u << 24) + 1};
  REQUIRE_THROWS_WITH(c.write(cs), Catch::Contains("step 4: layer 0 rank 1 expert 2: count 16777217 exceeds"));
}

// Expected contents of the file tests/trace_python_check.py writes (its docstring has the same
// formulas): layers 3, experts 300, top_k 4, ranks 5, weights, steps 10..13.
TEST_CASE("trace written by the Python writer reads back exactly (MOESIM_PY_TRACE)") {
  const char* env = std::getenv("MOESIM_PY_TRACE");
  if (env == nullptr || *env == '\0') {
    WARN("MOESIM_PY_TRACE not set: skipping the Python-writer check");
    return;
  }
  const std::string path = env;
  const int layers = 3, experts = 300, top_k = 4, ranks = 5, steps = 4;
  TraceReader r(path);
  REQUIRE(r.header().flags == TraceHeader::kFlagWeights);
  REQUIRE(r.header().layers == layers);
  REQUIRE(r.header().experts == experts);
  REQUIRE(r.header().top_k == top_k);
  REQUIRE(r.header().ranks == ranks);
  REQUIRE(r.header().steps == static_cast<std::uint64_t>(steps));
  TraceStep got;
  std::vector<TraceStep> all;
  for (int s = 0; s < steps; ++s) {
    REQUIRE(r.next(got));
    REQUIRE(got.step == static_cast<std::uint32_t>(10 + s));
    for (int l = 0; l < layers; ++l) {
      for (int k = 0; k < ranks; ++k) {
        const auto b = static_cast<std::size_t>(l * ranks + k);
        const int n = (s + 2 * l + 3 * k) % 5;
        REQUIRE(got.tokens[b] == static_cast<std::uint32_t>(n));
        for (int t = 0; t < n; ++t) {
          for (int j = 0; j < top_k; ++j) {
            const auto i = got.offsets[b] + static_cast<std::size_t>(t * top_k + j);
            REQUIRE(got.experts[i] == (7 * s + 31 * l + 17 * k + 13 * t + 41 * j) % experts);
            REQUIRE(got.weights[i] == static_cast<float>(t % 3 + j + 1) * 0.125f);
          }
        }
      }
    }
    all.push_back(got);
  }
  REQUIRE_FALSE(r.next(got));
  // Both writers implement FORMAT.md byte for byte: rewriting the steps gives the same file.
  const auto dir = moesim::test::scratch_dir("trace-python");
  const auto again = (dir / "again.trace").string();
  write_trace(again, r.header(), all);
  REQUIRE(read_bytes(again) == read_bytes(path));
}
