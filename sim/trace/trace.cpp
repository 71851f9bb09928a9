// Routing-trace format v1 (sim/trace/FORMAT.md): streaming reader and writer, assuming a
// little-endian host so fields move with memcpy; every field is checked before it is trusted.
#include "trace/trace.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "core/error.hpp"
#include "trace/trace_codec.hpp"

namespace moesim {

using namespace trace_codec;  // NOLINT: the codec is this file's own vocabulary

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

std::uint64_t TraceReader::read_block_head(unsigned char* head) {
  const std::uint64_t block_at = offset_;
  read_exact(head, kBlockHeadBytes, "a step block header");
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
  return len;
}

bool TraceReader::next(TraceStep& out) {
  if (at_end_) return false;
  if (steps_read_ == header_.steps) {
    read_end_marker();
    return false;
  }
  const std::uint64_t block_at = offset_;
  unsigned char head[kBlockHeadBytes];
  const std::uint64_t len = read_block_head(head);
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

void TraceReader::verify(std::uint64_t framed_steps, TraceStep& scratch) {
  rewind();
  unsigned char head[kBlockHeadBytes];
  for (; steps_read_ < std::min(framed_steps, header_.steps); ++steps_read_) {
    const std::uint64_t skip = read_block_head(head) + 4;  // payload and CRC, checked when next() reads them
    if (std::fseek(file_, static_cast<long>(skip), SEEK_CUR) != 0) fail(offset_, "cannot seek");
    offset_ += skip;
  }
  while (next(scratch)) {}
  rewind();
}

void TraceReader::rewind() {
  if (std::fseek(file_, static_cast<long>(kHeaderBytes), SEEK_SET) != 0) fail(kHeaderBytes, "cannot seek");
  offset_ = kHeaderBytes;
  steps_read_ = 0;
  at_end_ = false;
}

}  // namespace moesim
