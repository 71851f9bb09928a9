// Routing-trace format v1 (sim/trace/FORMAT.md): streaming reader and writer, assuming a
// little-endian host so fields move with memcpy; every field is checked before it is trusted.
#include "trace/trace.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "core/error.hpp"

namespace moesim {
namespace {

static_assert(std::endian::native == std::endian::little, "trace I/O copies little-endian fields with memcpy");

constexpr char kMagic[8] = {'M', 'O', 'E', 'S', 'I', 'M', 'T', 'R'};
constexpr std::uint32_t kTagStep = 0x50455453u;  // "STEP"
constexpr std::uint32_t kTagDone = 0x454E4F44u;  // "DONE"
constexpr std::size_t kHeaderBytes = 64, kHeaderCrcAt = 40, kBlockHeadBytes = 16, kEndBytes = 16;
constexpr std::int64_t kMaxLayers = 4096, kMaxExperts = 1 << 20, kMaxTopK = 64, kMaxRanks = 65536;
constexpr std::uint32_t kMaxBlockTokens = 1u << 24;  // also the largest count in counts-only form
constexpr std::uint64_t kMaxPayloadBytes = std::uint64_t{1} << 30;
constexpr std::uint64_t kReadChunkBytes = 256 * 1024;  // fits in L2 next to the CRC tables
constexpr std::uint32_t kKnownFlags =
    TraceHeader::kFlagWeights | TraceHeader::kFlagCountsOnly | TraceHeader::kFlagWideIds;

// Slicing-by-16 CRC-32 tables (t[0] is the classic byte table): ~16x fewer dependent lookups
// than byte-at-a-time, which keeps the checksum off the read path's critical cost.
using CrcTables = std::array<std::array<std::uint32_t, 256>, 16>;
constexpr CrcTables make_crc_tables() {
  CrcTables t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int bit = 0; bit < 8; ++bit) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : c >> 1;
    t[0][i] = c;
  }
  for (std::size_t s = 1; s < t.size(); ++s)
    for (std::size_t i = 0; i < 256; ++i) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFFu];
  return t;
}
constexpr CrcTables kCrcTables = make_crc_tables();

template <class T>
T load(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
template <class T>
void store(unsigned char* p, T v) {
  std::memcpy(p, &v, sizeof v);
}

struct FieldError {
  std::uint64_t at;  // header byte offset of the offending field
  std::string what;
};

// The header rules shared by reader and writer (FORMAT.md "Header").
std::optional<FieldError> check_header(std::uint32_t flags, std::int64_t layers, std::int64_t experts,
                                       std::int64_t top_k, std::int64_t ranks) {
  const auto range = [](std::uint64_t at, const char* name, std::int64_t v,
                        std::int64_t hi) -> std::optional<FieldError> {
    if (v >= 1 && v <= hi) return std::nullopt;
    return FieldError{at, fmt::format("{} {} out of range [1, {}]", name, v, hi)};
  };
  if ((flags & ~kKnownFlags) != 0) return FieldError{12, fmt::format("unknown flag bits 0x{:x}", flags & ~kKnownFlags)};
  const bool counts_only = (flags & TraceHeader::kFlagCountsOnly) != 0;
  if (counts_only && (flags & (TraceHeader::kFlagWeights | TraceHeader::kFlagWideIds)) != 0)
    return FieldError{12, "the counts-only form cannot have the weights or wide-ids flag"};
  if (auto e = range(16, "layers", layers, kMaxLayers)) return e;
  if (auto e = range(20, "experts", experts, kMaxExperts)) return e;
  if (auto e = range(24, "top_k", top_k, std::min(kMaxTopK, experts))) return e;
  if (auto e = range(28, "ranks", ranks, kMaxRanks)) return e;
  if (!counts_only && experts > 65535 && (flags & TraceHeader::kFlagWideIds) == 0)
    return FieldError{12, fmt::format("{} experts need the wide-ids flag (u16 ids hold at most 65535)", experts)};
  if (counts_only && 4 * static_cast<std::uint64_t>(layers * ranks * experts) > kMaxPayloadBytes)
    return FieldError{20, fmt::format("counts-only steps of {} layers x {} ranks x {} experts exceed the 1 GiB limit",
                                      layers, ranks, experts)};
  return std::nullopt;
}

void encode_header(const TraceHeader& h, unsigned char* out) {
  std::memset(out, 0, kHeaderBytes);
  std::memcpy(out, kMagic, sizeof kMagic);
  store<std::uint32_t>(out + 8, h.version);
  store<std::uint32_t>(out + 12, h.flags);
  store<std::uint32_t>(out + 16, static_cast<std::uint32_t>(h.layers));
  store<std::uint32_t>(out + 20, static_cast<std::uint32_t>(h.experts));
  store<std::uint32_t>(out + 24, static_cast<std::uint32_t>(h.top_k));
  store<std::uint32_t>(out + 28, static_cast<std::uint32_t>(h.ranks));
  store<std::uint64_t>(out + 32, h.steps);
  store<std::uint32_t>(out + kHeaderCrcAt, crc32(out, kHeaderCrcAt));
}

// Bytes of the smallest legal payload: all-zero token counts, or the fixed counts-only size.
std::uint64_t min_payload(const TraceHeader& h) {
  const auto blocks = static_cast<std::uint64_t>(h.layers) * static_cast<std::uint64_t>(h.ranks);
  return h.counts_only() ? 4 * blocks * static_cast<std::uint64_t>(h.experts) : 4 * blocks;
}

// Copies n ids of type T to dst and returns the largest. Fixed 16-wide chunks with per-lane
// maxima so the loop vectorises even under -O2's "very cheap" vectoriser cost model.
template <class T>
std::uint32_t widen_ids(const unsigned char* src, std::int32_t* dst, std::size_t n) {
  constexpr std::size_t kLanes = 16;
  std::uint32_t lane_max[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    T v[kLanes];
    std::memcpy(v, src + i * sizeof(T), sizeof v);
    for (std::size_t j = 0; j < kLanes; ++j) {
      dst[i + j] = static_cast<std::int32_t>(v[j]);
      lane_max[j] = std::max<std::uint32_t>(lane_max[j], v[j]);
    }
  }
  for (; i < n; ++i) {
    const T v = load<T>(src + i * sizeof(T));
    dst[i] = static_cast<std::int32_t>(v);
    lane_max[0] = std::max<std::uint32_t>(lane_max[0], v);
  }
  return *std::max_element(lane_max, lane_max + kLanes);
}

// First token (of `tokens`, k ids each, all < seen.size()) whose ids are not pairwise distinct,
// or `tokens`. `seen` holds one stamp per expert; a fresh stamp per token avoids clearing it.
std::size_t first_repeat(const std::int32_t* ids, std::size_t tokens, int k, std::vector<std::uint32_t>& seen,
                         std::uint32_t& stamp) {
  if (k == 1) return tokens;
  const auto kk = static_cast<std::size_t>(k);
  std::uint32_t* marks = seen.data();
  for (std::size_t t = 0; t < tokens; ++t, ids += kk) {
    if (++stamp == 0) {  // wrapped: old marks could collide with new stamps
      std::fill(seen.begin(), seen.end(), 0u);
      stamp = 1;
    }
    for (std::size_t j = 0; j < kk; ++j) {
      std::uint32_t& m = marks[ids[j]];
      if (m == stamp) return t;
      m = stamp;
    }
  }
  return tokens;
}

// Position within a token of the first id that repeats an earlier one (cold path: errors).
std::size_t repeat_position(const std::int32_t* ids, int k) {
  for (int i = 1; i < k; ++i)
    for (int j = 0; j < i; ++j)
      if (ids[i] == ids[j]) return static_cast<std::size_t>(i);
  return 0;
}

// Finite and >= 0 (negative zero passes); NaN fails both comparisons.
bool weight_ok(float w) { return w >= 0.0f && w <= std::numeric_limits<float>::max(); }

std::string block_name(const TraceHeader& h, std::size_t block) {
  return fmt::format("layer {} rank {}", block / static_cast<std::size_t>(h.ranks),
                     block % static_cast<std::size_t>(h.ranks));
}

}  // namespace

std::uint32_t crc32(const void* data, std::size_t n, std::uint32_t seed) {
  const auto& t = kCrcTables;
  const auto* p = static_cast<const unsigned char*>(data);
  std::uint32_t c = ~seed;
  for (; n >= 16; n -= 16, p += 16) {
    const std::uint32_t a = load<std::uint32_t>(p) ^ c, b = load<std::uint32_t>(p + 4);
    const std::uint32_t d = load<std::uint32_t>(p + 8), e = load<std::uint32_t>(p + 12);
    c = t[15][a & 0xFF] ^ t[14][(a >> 8) & 0xFF] ^ t[13][(a >> 16) & 0xFF] ^ t[12][a >> 24] ^ t[11][b & 0xFF] ^
        t[10][(b >> 8) & 0xFF] ^ t[9][(b >> 16) & 0xFF] ^ t[8][b >> 24] ^ t[7][d & 0xFF] ^ t[6][(d >> 8) & 0xFF] ^
        t[5][(d >> 16) & 0xFF] ^ t[4][d >> 24] ^ t[3][e & 0xFF] ^ t[2][(e >> 8) & 0xFF] ^ t[1][(e >> 16) & 0xFF] ^
        t[0][e >> 24];
  }
  for (; n > 0; --n, ++p) c = (c >> 8) ^ t[0][(c ^ *p) & 0xFF];
  return ~c;
}

void TraceStep::index(int top_k) {
  offsets.resize(tokens.size());
  std::uint64_t at = 0;
  for (std::size_t b = 0; b < tokens.size(); ++b) {
    offsets[b] = at;
    at += static_cast<std::uint64_t>(tokens[b]) * static_cast<std::uint64_t>(top_k);
  }
}

// ---------------------------------------------------------------------------------------------
// Reader

TraceReader::TraceReader(const std::string& path) : path_(path) {
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) throw InputError(fmt::format("{}: cannot open trace: {}", path, std::strerror(errno)));
  try {
    read_header();
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

TraceReader::~TraceReader() {
  if (file_ != nullptr) std::fclose(file_);
}

void TraceReader::fail(std::uint64_t at, const std::string& what) const {
  throw InputError(fmt::format("{}: byte {}: {}", path_, at, what));
}

void TraceReader::read_exact(void* dst, std::size_t n, const char* what) {
  const std::size_t got = std::fread(dst, 1, n, file_);
  offset_ += got;
  if (got == n) return;
  if (std::ferror(file_) != 0) fail(offset_, fmt::format("read error in {}: {}", what, std::strerror(errno)));
  fail(offset_, fmt::format("unexpected end of file in {} ({} more bytes needed; truncated?)", what, n - got));
}

void TraceReader::read_header() {
  if (std::fseek(file_, 0, SEEK_END) != 0) fail(0, "cannot seek (a trace must be a regular file)");
  const long size = std::ftell(file_);
  if (size < 0) fail(0, "cannot tell the file size");
  file_size_ = static_cast<std::uint64_t>(size);
  std::rewind(file_);
  if (file_size_ == 0) fail(0, "empty file (not a moesim trace)");

  unsigned char h[kHeaderBytes];
  const std::size_t got = std::fread(h, 1, kHeaderBytes, file_);
  if (std::ferror(file_) != 0) fail(0, fmt::format("read error: {}", std::strerror(errno)));
  if (std::memcmp(h, kMagic, std::min(got, sizeof kMagic)) != 0) fail(0, "not a moesim trace (magic is not MOESIMTR)");
  if (got < kHeaderBytes)
    fail(got, fmt::format("unexpected end of file in the header: {} of {} bytes (truncated?)", got, kHeaderBytes));
  offset_ = kHeaderBytes;
  header_.version = load<std::uint32_t>(h + 8);
  if (header_.version != TraceHeader::kVersion)
    fail(8, fmt::format("unsupported trace version {} (this build reads version {})", header_.version,
                        TraceHeader::kVersion));
  const std::uint32_t stored = load<std::uint32_t>(h + kHeaderCrcAt), actual = crc32(h, kHeaderCrcAt);
  if (stored != actual)
    fail(kHeaderCrcAt, fmt::format("header checksum mismatch (stored 0x{:08x}, computed 0x{:08x})", stored, actual));
  for (std::size_t i = kHeaderCrcAt + 4; i < kHeaderBytes; ++i)
    if (h[i] != 0) fail(i, "reserved header byte is not zero");
  header_.flags = load<std::uint32_t>(h + 12);
  const std::int64_t dims[4] = {load<std::uint32_t>(h + 16), load<std::uint32_t>(h + 20), load<std::uint32_t>(h + 24),
                                load<std::uint32_t>(h + 28)};
  if (auto e = check_header(header_.flags, dims[0], dims[1], dims[2], dims[3])) fail(e->at, e->what);
  header_.layers = static_cast<int>(dims[0]);
  header_.experts = static_cast<int>(dims[1]);
  header_.top_k = static_cast<int>(dims[2]);
  header_.ranks = static_cast<int>(dims[3]);
  header_.steps = load<std::uint64_t>(h + 32);

  // A writer that never reached close() leaves steps = 0; only a closed empty trace is 80 bytes.
  if (header_.steps == 0 && file_size_ != kHeaderBytes + kEndBytes)
    fail(32, "trace was not closed: the header's step count is 0 (the writer did not finish)");
  // Each step needs at least its block framing and minimum payload: catch truncation up front.
  const std::uint64_t per_step = kBlockHeadBytes + 4 + min_payload(header_);
  if (file_size_ < kHeaderBytes + kEndBytes || header_.steps > (file_size_ - kHeaderBytes - kEndBytes) / per_step)
    fail(file_size_, fmt::format("unexpected end of file: the header promises {} steps, which need more than the "
                                 "file's {} bytes (truncated?)",
                                 header_.steps, file_size_));
}

bool TraceReader::next(TraceStep& out) {
  if (at_end_) return false;
  if (steps_read_ == header_.steps) {
    read_end_marker();
    return false;
  }
  const std::uint64_t block_at = offset_;
  unsigned char head[kBlockHeadBytes];
  read_exact(head, sizeof head, "a step block header");
  const std::uint32_t tag = load<std::uint32_t>(head);
  if (tag == kTagDone)
    fail(block_at, fmt::format("end marker after {} steps, but the header says {}", steps_read_, header_.steps));
  if (tag != kTagStep) fail(block_at, fmt::format("bad block tag 0x{:08x} (expected STEP)", tag));
  const std::uint64_t len = load<std::uint64_t>(head + 8);
  const std::uint64_t min_len = min_payload(header_);
  // Length checks come before any allocation: a hostile length cannot make us allocate.
  if (len > kMaxPayloadBytes)
    fail(block_at + 8, fmt::format("bad payload length {} (limit {})", len, kMaxPayloadBytes));
  if (len < min_len || (header_.counts_only() && len != min_len))
    fail(block_at + 8,
         fmt::format("bad payload length {} ({} {} bytes for {} layers x {} ranks)", len,
                     header_.counts_only() ? "need exactly" : "need at least", min_len, header_.layers, header_.ranks));
  if (len + 4 > file_size_ - offset_)
    fail(file_size_,
         fmt::format("unexpected end of file: step block {} at byte {} declares a {}-byte payload but only {} "
                     "bytes remain (truncated?)",
                     steps_read_, block_at, len, file_size_ - offset_));
  if (buf_.size() < len) buf_.resize(len);
  // Checksum each chunk right after reading it, while it is still in cache.
  std::uint32_t actual = crc32(head, sizeof head);
  for (std::uint64_t done = 0; done < len;) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(len - done, kReadChunkBytes));
    read_exact(buf_.data() + done, n, "a step payload");
    actual = crc32(buf_.data() + done, n, actual);
    done += n;
  }
  unsigned char crc_bytes[4];
  read_exact(crc_bytes, 4, "a step checksum");
  const std::uint32_t stored = load<std::uint32_t>(crc_bytes);
  if (stored != actual)
    fail(offset_ - 4, fmt::format("step block {}: checksum mismatch (stored 0x{:08x}, computed 0x{:08x})", steps_read_,
                                  stored, actual));
  out.step = load<std::uint32_t>(head + 4);
  if (header_.counts_only())
    decode_counts(out, block_at, len);
  else
    decode_tokens(out, block_at, len);
  ++steps_read_;
  return true;
}

void TraceReader::decode_tokens(TraceStep& out, std::uint64_t block_at, std::uint64_t len) {
  const std::uint64_t payload_at = block_at + kBlockHeadBytes;
  const auto blocks = static_cast<std::size_t>(header_.layers) * static_cast<std::size_t>(header_.ranks);
  const int k = header_.top_k;
  const std::size_t id_bytes = (header_.flags & TraceHeader::kFlagWideIds) != 0 ? 4 : 2;
  const bool weights = header_.has_weights();
  const std::uint64_t token_bytes = static_cast<std::uint64_t>(k) * (id_bytes + (weights ? 4 : 0));
  const unsigned char* p = buf_.data();
  const std::string where = fmt::format("step {} (block {})", out.step, steps_read_);

  // Pass 1: the counts must tile the payload exactly (sizes known before touching ids).
  out.tokens.resize(blocks);
  out.offsets.resize(blocks);
  std::uint64_t pos = 0, total = 0;
  for (std::size_t b = 0; b < blocks; ++b) {
    if (pos + 4 > len)
      fail(block_at + 8, fmt::format("{}: bad payload length {}: it ends before the token count of {}", where, len,
                                     block_name(header_, b)));
    const std::uint32_t n = load<std::uint32_t>(p + pos);
    if (n > kMaxBlockTokens)
      fail(payload_at + pos, fmt::format("{}: {}: {} tokens exceed the limit of {} per block", where,
                                         block_name(header_, b), n, kMaxBlockTokens));
    out.tokens[b] = n;
    out.offsets[b] = total;
    total += static_cast<std::uint64_t>(n) * static_cast<std::uint64_t>(k);
    pos += 4 + n * token_bytes;
  }
  if (pos != len)
    fail(block_at + 8,
         fmt::format("{}: bad payload length {}: the token counts account for {} bytes", where, len, pos));

  // Pass 2: decode and validate ids (and weights) in place.
  out.experts.resize(total);
  if (weights)
    out.weights.resize(total);
  else
    out.weights.clear();
  out.counts.clear();
  const auto experts = static_cast<std::uint32_t>(header_.experts);
  seen_.resize(experts, 0u);
  pos = 0;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::size_t n = static_cast<std::size_t>(out.tokens[b]) * static_cast<std::size_t>(k);
    std::int32_t* ids = out.experts.data() + out.offsets[b];
    pos += 4;
    const std::uint32_t hi =
        id_bytes == 2 ? widen_ids<std::uint16_t>(p + pos, ids, n) : widen_ids<std::uint32_t>(p + pos, ids, n);
    if (hi >= experts) {
      std::size_t i = 0;
      while (static_cast<std::uint32_t>(ids[i]) < experts) ++i;
      fail(payload_at + pos + i * id_bytes,
           fmt::format("{}: {} token {}: expert id {} >= experts {}", where, block_name(header_, b),
                       i / static_cast<std::size_t>(k), static_cast<std::uint32_t>(ids[i]), experts));
    }
    if (const std::size_t t = first_repeat(ids, out.tokens[b], k, seen_, stamp_); t < out.tokens[b]) {
      const std::size_t i = t * static_cast<std::size_t>(k) + repeat_position(ids + t * static_cast<std::size_t>(k), k);
      fail(payload_at + pos + i * id_bytes,
           fmt::format("{}: {} token {}: expert id {} appears twice", where, block_name(header_, b), t, ids[i]));
    }
    pos += n * id_bytes;
    if (weights) {
      float* w = out.weights.data() + out.offsets[b];
      std::memcpy(w, p + pos, n * sizeof(float));
      bool ok = true;
      for (std::size_t i = 0; i < n; ++i) ok &= weight_ok(w[i]);
      if (!ok) {
        std::size_t i = 0;
        while (weight_ok(w[i])) ++i;
        fail(payload_at + pos + i * 4, fmt::format("{}: {} token {}: weight {} is not finite and non-negative", where,
                                                   block_name(header_, b), i / static_cast<std::size_t>(k), w[i]));
      }
      pos += n * sizeof(float);
    }
  }
}

void TraceReader::decode_counts(TraceStep& out, std::uint64_t block_at, std::uint64_t len) {
  out.tokens.clear();
  out.offsets.clear();
  out.experts.clear();
  out.weights.clear();
  out.counts.resize(len / 4);
  std::memcpy(out.counts.data(), buf_.data(), len);
  std::uint32_t hi = 0;
  for (std::uint32_t c : out.counts) hi = std::max(hi, c);
  if (hi <= kMaxBlockTokens) return;
  const auto at = static_cast<std::size_t>(
      std::find_if(out.counts.begin(), out.counts.end(), [](std::uint32_t c) { return c > kMaxBlockTokens; }) -
      out.counts.begin());
  const auto experts = static_cast<std::size_t>(header_.experts);
  fail(block_at + kBlockHeadBytes + 4 * at,
       fmt::format("step {} (block {}): {} expert {}: count {} exceeds the limit of {}", out.step, steps_read_,
                   block_name(header_, at / experts), at % experts, out.counts[at], kMaxBlockTokens));
}

void TraceReader::read_end_marker() {
  const std::uint64_t at = offset_;
  unsigned char m[kEndBytes];
  read_exact(m, sizeof m, "the end marker");
  const std::uint32_t tag = load<std::uint32_t>(m);
  if (tag == kTagStep) fail(at, fmt::format("more steps than the header's {}", header_.steps));
  if (tag != kTagDone) fail(at, fmt::format("bad end-marker tag 0x{:08x} (expected DONE)", tag));
  const std::uint32_t stored = load<std::uint32_t>(m + 12), actual = crc32(m, 12);
  if (stored != actual)
    fail(at + 12, fmt::format("end marker checksum mismatch (stored 0x{:08x}, computed 0x{:08x})", stored, actual));
  if (load<std::uint64_t>(m + 4) != header_.steps)
    fail(at + 4, fmt::format("end marker says {} steps, the header {}", load<std::uint64_t>(m + 4), header_.steps));
  if (offset_ != file_size_ || std::fgetc(file_) != EOF)
    fail(offset_, fmt::format("trailing data after the end marker ({} bytes)", file_size_ - offset_));
  at_end_ = true;
}

void TraceReader::rewind() {
  if (std::fseek(file_, static_cast<long>(kHeaderBytes), SEEK_SET) != 0) fail(kHeaderBytes, "cannot seek");
  offset_ = kHeaderBytes;
  steps_read_ = 0;
  at_end_ = false;
}

// ---------------------------------------------------------------------------------------------
// Writer

TraceWriter::TraceWriter(const std::string& path, const TraceHeader& header)
    : path_(path), header_(header), uncaught_at_open_(std::uncaught_exceptions()) {
  if (header_.version != TraceHeader::kVersion)
    throw InputError(
        fmt::format("{}: this build writes trace version {}, not {}", path, TraceHeader::kVersion, header_.version));
  if (!header_.counts_only() && header_.experts > 65535) header_.flags |= TraceHeader::kFlagWideIds;
  if (auto e = check_header(header_.flags, header_.layers, header_.experts, header_.top_k, header_.ranks))
    throw InputError(fmt::format("{}: trace header: {}", path, e->what));
  header_.steps = 0;
  file_ = std::fopen(path.c_str(), "wb");
  if (file_ == nullptr) throw Error(fmt::format("{}: cannot create trace file: {}", path, std::strerror(errno)));
  unsigned char h[kHeaderBytes];
  encode_header(header_, h);
  try {
    write_bytes(h, sizeof h);
  } catch (...) {
    std::fclose(file_);
    throw;
  }
}

TraceWriter::~TraceWriter() {
  if (file_ == nullptr) return;
  if (std::uncaught_exceptions() > uncaught_at_open_) {
    std::fclose(file_);  // unwinding: leave steps = 0 so readers report "not closed"
    return;
  }
  try {
    close();
  } catch (...) {  // NOLINT(bugprone-empty-catch): documented, close() reports errors
  }
}

void TraceWriter::write_bytes(const void* data, std::size_t n) {
  if (std::fwrite(data, 1, n, file_) != n)
    throw Error(fmt::format("{}: write failed: {}", path_, std::strerror(errno)));
}

void TraceWriter::reject(const TraceStep& step, const std::string& what) const {
  throw InputError(fmt::format("{}: step {}: {}", path_, step.step, what));
}

void TraceWriter::write(const TraceStep& step) {
  if (file_ == nullptr) throw Error(fmt::format("{}: write after close", path_));
  // The block is fully built and validated in buf_ before anything reaches the file.
  const std::uint32_t crc = header_.counts_only() ? encode_counts(step) : encode_tokens(step);
  const std::size_t end = kBlockHeadBytes + load<std::uint64_t>(buf_.data() + 8);
  store<std::uint32_t>(buf_.data() + end, crc);
  write_bytes(buf_.data(), end + 4);
  ++header_.steps;
}

unsigned char* TraceWriter::begin_block(const TraceStep& step, std::uint64_t len) {
  const std::size_t need = kBlockHeadBytes + len + 4;
  if (buf_.size() < need) buf_.resize(need);  // grows only: no per-step zero fill
  store<std::uint32_t>(buf_.data(), kTagStep);
  store<std::uint32_t>(buf_.data() + 4, step.step);
  store<std::uint64_t>(buf_.data() + 8, len);
  return buf_.data() + kBlockHeadBytes;
}

std::uint32_t TraceWriter::encode_tokens(const TraceStep& step) {
  const auto blocks = static_cast<std::size_t>(header_.layers) * static_cast<std::size_t>(header_.ranks);
  const auto k = static_cast<std::size_t>(header_.top_k);
  const bool weights = header_.has_weights();
  const std::size_t id_bytes = (header_.flags & TraceHeader::kFlagWideIds) != 0 ? 4 : 2;
  if (step.tokens.size() != blocks || step.offsets.size() != blocks)
    reject(step,
           fmt::format("tokens has {} entries and offsets {}, expected {} (layers x ranks; call TraceStep::index)",
                       step.tokens.size(), step.offsets.size(), blocks));
  if (!step.counts.empty()) reject(step, "has counts, but the trace is token-level");
  if (weights ? step.weights.size() != step.experts.size() : !step.weights.empty())
    reject(step, weights ? fmt::format("weights has {} entries, experts {}", step.weights.size(), step.experts.size())
                         : std::string("has weights, but the trace was created without the weights flag"));
  std::uint64_t len = 0;
  for (std::size_t b = 0; b < blocks; ++b) {
    const std::uint64_t n = step.tokens[b];
    if (n > kMaxBlockTokens)
      reject(step,
             fmt::format("{}: {} tokens exceed the limit of {} per block", block_name(header_, b), n, kMaxBlockTokens));
    if (step.offsets[b] > step.experts.size() || n * k > step.experts.size() - step.offsets[b])
      reject(step, fmt::format("{}: offset {} + {} ids runs past the {} expert ids", block_name(header_, b),
                               step.offsets[b], n * k, step.experts.size()));
    len += 4 + n * k * (id_bytes + (weights ? 4 : 0));
  }
  if (len > kMaxPayloadBytes) reject(step, fmt::format("payload of {} bytes exceeds the 1 GiB limit", len));
  unsigned char* p = begin_block(step, len);
  std::uint32_t crc = crc32(buf_.data(), kBlockHeadBytes);
  const auto experts = static_cast<std::uint32_t>(header_.experts);
  seen_.resize(experts, 0u);
  for (std::size_t b = 0; b < blocks; ++b) {
    unsigned char* const block_start = p;
    const std::size_t n = step.tokens[b] * k;
    const std::int32_t* ids = step.experts.data() + step.offsets[b];
    store<std::uint32_t>(p, step.tokens[b]);
    p += 4;
    bool in_range = true;
    for (std::size_t i = 0; i < n; ++i) in_range &= static_cast<std::uint32_t>(ids[i]) < experts;
    for (std::size_t i = 0; !in_range && i < n; ++i)
      if (static_cast<std::uint32_t>(ids[i]) >= experts)
        reject(step, fmt::format("{} token {}: expert id {} is outside [0, {})", block_name(header_, b), i / k, ids[i],
                                 experts));
    if (const std::size_t t = first_repeat(ids, step.tokens[b], header_.top_k, seen_, stamp_); t < step.tokens[b])
      reject(step, fmt::format("{} token {}: expert id {} appears twice", block_name(header_, b), t,
                               ids[t * k + repeat_position(ids + t * k, header_.top_k)]));
    if (id_bytes == 2) {
      for (std::size_t i = 0; i < n; ++i) store<std::uint16_t>(p + 2 * i, static_cast<std::uint16_t>(ids[i]));
    } else {
      std::memcpy(p, ids, n * 4);  // ids are checked non-negative, so the bits are the u32 value
    }
    p += n * id_bytes;
    if (weights) {
      const float* w = step.weights.data() + step.offsets[b];
      for (std::size_t i = 0; i < n; ++i)
        if (!weight_ok(w[i]))
          reject(step, fmt::format("{} token {}: weight {} is not finite and non-negative", block_name(header_, b),
                                   i / k, w[i]));
      std::memcpy(p, w, n * 4);
      p += n * 4;
    }
    crc = crc32(block_start, static_cast<std::size_t>(p - block_start), crc);  // while still in cache
  }
  return crc;
}

std::uint32_t TraceWriter::encode_counts(const TraceStep& step) {
  const std::size_t want = static_cast<std::size_t>(header_.layers) * static_cast<std::size_t>(header_.ranks) *
                           static_cast<std::size_t>(header_.experts);
  if (step.counts.size() != want)
    reject(step,
           fmt::format("counts has {} entries, expected {} (layers x ranks x experts)", step.counts.size(), want));
  if (!step.experts.empty() || !step.weights.empty())
    reject(step, "has expert ids or weights, but the trace is counts-only");
  const auto experts = static_cast<std::size_t>(header_.experts);
  for (std::size_t i = 0; i < want; ++i)
    if (step.counts[i] > kMaxBlockTokens)
      reject(step, fmt::format("{} expert {}: count {} exceeds the limit of {}", block_name(header_, i / experts),
                               i % experts, step.counts[i], kMaxBlockTokens));
  unsigned char* p = begin_block(step, 4 * want);
  std::memcpy(p, step.counts.data(), 4 * want);
  return crc32(buf_.data(), kBlockHeadBytes + 4 * want);
}

void TraceWriter::close() {
  if (file_ == nullptr) return;
  std::FILE* f = std::exchange(file_, nullptr);
  const auto io_error = [&](const char* what) {
    const int err = errno;
    std::fclose(f);
    return Error(fmt::format("{}: {}: {}", path_, what, std::strerror(err)));
  };
  unsigned char m[kEndBytes];
  store<std::uint32_t>(m, kTagDone);
  store<std::uint64_t>(m + 4, header_.steps);
  store<std::uint32_t>(m + 12, crc32(m, 12));
  unsigned char h[kHeaderBytes];
  encode_header(header_, h);
  // End marker first, header last: a crash in between still leaves steps = 0 ("not closed").
  if (std::fwrite(m, 1, sizeof m, f) != sizeof m || std::fflush(f) != 0)
    throw io_error("writing the end marker failed");
  if (std::fseek(f, 0, SEEK_SET) != 0 || std::fwrite(h, 1, sizeof h, f) != sizeof h || std::fflush(f) != 0)
    throw io_error("patching the header failed");
  if (std::fclose(f) != 0) throw Error(fmt::format("{}: closing failed: {}", path_, std::strerror(errno)));
}

}  // namespace moesim
