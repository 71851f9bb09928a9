#pragma once
// Routing traces: per step, per MoE layer, per source rank, the top_k expert ids each token was
// gated to (optionally with gate weights), or only the token counts per expert (counts-only form).
// Binary, little-endian, versioned, one checksummed block per step so a reader streams it in
// memory proportional to one step. The byte layout is specified in sim/trace/FORMAT.md.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace moesim {

struct TraceHeader {
  static constexpr std::uint32_t kVersion = 1;
  static constexpr std::uint32_t kFlagWeights = 1u << 0;     // f32 gate weight per assignment
  static constexpr std::uint32_t kFlagCountsOnly = 1u << 1;  // counts per (rank, expert) instead of ids
  static constexpr std::uint32_t kFlagWideIds = 1u << 2;     // u32 expert ids (set when experts > 65535)

  std::uint32_t version = kVersion;
  std::uint32_t flags = 0;
  int layers = 0;   // MoE layers
  int experts = 0;  // routed experts per layer
  int top_k = 0;
  int ranks = 0;            // source ranks (GPUs holding tokens)
  std::uint64_t steps = 0;  // steps in the file (the writer fills it in on close)

  bool has_weights() const { return (flags & kFlagWeights) != 0; }
  bool counts_only() const { return (flags & kFlagCountsOnly) != 0; }
};

// One step of a trace. Token-level form: for block b = layer * ranks + rank, the block's tokens
// are tokens[b], its expert ids are experts[offset(b) .. offset(b) + tokens[b] * top_k), token-major,
// and (with weights) weights[] has the same layout. Counts-only form: counts[b * experts + e].
struct TraceStep {
  std::uint32_t step = 0;
  std::vector<std::uint32_t> tokens;   // [layers * ranks]
  std::vector<std::uint64_t> offsets;  // [layers * ranks]: start of each block in `experts`
  std::vector<std::int32_t> experts;   // token-level form only
  std::vector<float> weights;          // token-level form with kFlagWeights only
  std::vector<std::uint32_t> counts;   // counts-only form only: [layers * ranks * experts]

  // Fills offsets from tokens (call after setting tokens when building a step by hand).
  void index(int top_k);
};

// Streaming reader. Every error is an InputError "FILE: byte OFFSET: what" (truncation, bad
// magic, unsupported version, checksum mismatch, expert id >= experts, NaN or negative weights,
// an empty file, header fields out of range).
class TraceReader {
 public:
  explicit TraceReader(const std::string& path);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;

  const TraceHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  // Reads the next step into `out` (reusing its capacity); false at the end of the steps.
  bool next(TraceStep& out);
  void rewind();  // back to the first step
  // Checks the whole file in one streaming pass, then rewinds: the first `framed_steps` steps only
  // for their framing (tag, length, room in the file; next() checks the rest when it reads them),
  // every later step in full (decoded into `scratch`), then the end marker and the end of file.
  void verify(std::uint64_t framed_steps, TraceStep& scratch);
  std::uint64_t bytes_read() const { return offset_; }

 private:
  void read_exact(void* dst, std::size_t n, const char* what);
  [[noreturn]] void fail(std::uint64_t at, const std::string& what) const;
  void read_header();
  std::uint64_t read_block_head(unsigned char* head);  // checks a block's framing; returns payload_len
  void read_end_marker();
  void decode_tokens(TraceStep& out, std::uint64_t block_at, std::uint64_t len);
  void decode_counts(TraceStep& out, std::uint64_t block_at, std::uint64_t len);
  std::string path_;
  std::FILE* file_ = nullptr;
  TraceHeader header_;
  std::uint64_t file_size_ = 0;
  std::uint64_t offset_ = 0;  // bytes consumed so far
  std::uint64_t steps_read_ = 0;
  bool at_end_ = false;              // the end marker has been read and checked
  std::vector<unsigned char> buf_;   // one step's payload
  std::vector<std::uint32_t> seen_;  // per-expert stamps for the distinct-ids check
  std::uint32_t stamp_ = 0;
};

class TraceWriter {
 public:
  // Throws Error when the file cannot be created; validates the header (InputError).
  TraceWriter(const std::string& path, const TraceHeader& header);
  // Closes if still open (errors swallowed; call close() to see them), except during stack
  // unwinding: then the file is left unfinished (steps = 0) so no reader mistakes it for complete.
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Appends a step; validates it against the header (block count, ids < experts, distinct ids
  // per token, finite non-negative weights) and throws InputError naming the step and block.
  void write(const TraceStep& step);
  void close();  // patches the step count into the header and flushes
  const TraceHeader& header() const { return header_; }

 private:
  // Each builds the whole step block in buf_ and returns its CRC.
  std::uint32_t encode_tokens(const TraceStep& step);
  std::uint32_t encode_counts(const TraceStep& step);
  unsigned char* begin_block(const TraceStep& step, std::uint64_t len);
  [[noreturn]] void reject(const TraceStep& step, const std::string& what) const;
  void write_bytes(const void* data, std::size_t n);
  std::string path_;
  std::FILE* file_ = nullptr;
  TraceHeader header_;
  std::vector<unsigned char> buf_;
  std::vector<std::uint32_t> seen_;  // per-expert stamps for the distinct-ids check
  std::uint32_t stamp_ = 0;
  int uncaught_at_open_ = 0;  // std::uncaught_exceptions() when constructed
};

std::uint32_t crc32(const void* data, std::size_t n, std::uint32_t seed = 0);

}  // namespace moesim
