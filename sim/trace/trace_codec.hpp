#pragma once
// Internal to the trace reader and writer: the v1 byte layout's constants, field access and the
// validation rules both sides share (FORMAT.md). Not part of the public trace API.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/error.hpp"
#include "trace/trace.hpp"

namespace moesim::trace_codec {

static_assert(std::endian::native == std::endian::little, "trace I/O copies little-endian fields with memcpy");

inline constexpr char kMagic[8] = {'M', 'O', 'E', 'S', 'I', 'M', 'T', 'R'};
inline constexpr std::uint32_t kTagStep = 0x50455453u;  // "STEP"
inline constexpr std::uint32_t kTagDone = 0x454E4F44u;  // "DONE"
inline constexpr std::size_t kHeaderBytes = 64, kHeaderCrcAt = 40, kBlockHeadBytes = 16, kEndBytes = 16;
inline constexpr std::int64_t kMaxLayers = 4096, kMaxExperts = 1 << 20, kMaxTopK = 64, kMaxRanks = 65536;
inline constexpr std::uint32_t kMaxBlockTokens = 1u << 24;  // also the largest count in counts-only form
inline constexpr std::uint64_t kMaxPayloadBytes = std::uint64_t{1} << 30;
inline constexpr std::uint64_t kReadChunkBytes = 256 * 1024;  // fits in L2 next to the CRC tables
inline constexpr std::uint32_t kKnownFlags =
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
inline constexpr CrcTables kCrcTables = make_crc_tables();

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
inline std::optional<FieldError> check_header(std::uint32_t flags, std::int64_t layers, std::int64_t experts,
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

inline void encode_header(const TraceHeader& h, unsigned char* out) {
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
inline std::uint64_t min_payload(const TraceHeader& h) {
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
inline std::size_t first_repeat(const std::int32_t* ids, std::size_t tokens, int k, std::vector<std::uint32_t>& seen,
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
inline std::size_t repeat_position(const std::int32_t* ids, int k) {
  for (int i = 1; i < k; ++i)
    for (int j = 0; j < i; ++j)
      if (ids[i] == ids[j]) return static_cast<std::size_t>(i);
  return 0;
}

// Finite and >= 0 (negative zero passes); NaN fails both comparisons.
inline bool weight_ok(float w) { return w >= 0.0f && w <= std::numeric_limits<float>::max(); }

inline std::string block_name(const TraceHeader& h, std::size_t block) {
  return fmt::format("layer {} rank {}", block / static_cast<std::size_t>(h.ranks),
                     block % static_cast<std::size_t>(h.ranks));
}

}  // namespace moesim::trace_codec
