// Routing-trace format v1: the writer (validates every step against its header before writing).
#include "trace/trace.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <utility>

#include "core/error.hpp"
#include "trace/trace_codec.hpp"

namespace moesim {

using namespace trace_codec;  // NOLINT: the codec is this file's own vocabulary

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
