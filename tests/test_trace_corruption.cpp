// Corrupt, truncated and hand-built routing traces: each is an InputError naming the path and the
// offending byte; never a crash.
#include <catch2/catch.hpp>

#include "trace_test_util.hpp"

using namespace trace_test;  // NOLINT: test vocabulary

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
  } catch (const std::runtime_error&) {}
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
