#pragma once
// What one forward step computes on each data-parallel attention rank: sequences, each with the new
// tokens it runs this step and the tokens already in its KV cache. The attention cost depends on
// this composition (16K tokens made of 4K prompts cost a quarter of one 16K prompt's core
// attention); the MoE part only on how many tokens each rank holds.
#include <cstdint>
#include <vector>

namespace moesim {

struct SeqChunk {
  int new_tokens = 1;    // tokens computed this step (a prompt chunk, or 1 + draft tokens in decode)
  int context = 0;       // tokens of this sequence already cached before them
  bool prefill = false;  // a prompt chunk (MLA prefills in the expanded form, decodes absorbed)
};

// The attention work of a set of chunks: all the cost model needs.
struct AttentionWork {
  std::int64_t tokens = 0;   // new tokens
  double kv_tokens = 0;      // KV entries read (each sequence's context, once) and written (its new tokens)
  double decode_pairs = 0;   // (query, cached key) pairs of decode chunks
  double prefill_pairs = 0;  // the same for prompt chunks (causal within the chunk, self included)
  // Decode chunks apart, for measured decode kernels timed by batch and context: their count, the
  // sum of their cached contexts and the KV entries they read and write.
  double decode_seqs = 0;
  double decode_context = 0;
  double decode_kv_tokens = 0;
  void add(const SeqChunk& c) {
    const double n = c.new_tokens, ctx = c.context;
    tokens += c.new_tokens;
    kv_tokens += ctx + n;
    if (!c.prefill) {
      decode_seqs += 1;
      decode_context += ctx;
      decode_kv_tokens += ctx + n;
    }
    // A new token attends to the cached context and the chunk's tokens before it; prompt tokens
    // also to themselves (the two conventions the single-sequence model always used).
    if (c.prefill)
      prefill_pairs += n * ctx + n * (n + 1) / 2;
    else
      decode_pairs += n * ctx + n * (n - 1) / 2;
  }
};

// One rank's sequences, in order (micro-batches split this order at the token midpoint).
using RankBatch = std::vector<SeqChunk>;

struct StepBatch {
  std::vector<RankBatch> ranks;  // [gpu] of the expert-parallel group; a down GPU's is ignored
};

// Splits a rank's chunks into `parts` (1 or 2) micro-batches of ceil/floor half the tokens, in
// order; the chunk straddling the midpoint is cut in two, its second part's context including the
// first part, so that the parts' tokens and attention pairs add up to the whole's (the second part
// reads the cached context again: its KV reads are counted twice, as the kernels do).
std::vector<RankBatch> split_microbatches(const RankBatch& rank, int parts);
std::int64_t batch_tokens(const RankBatch& rank);
AttentionWork attention_work(const RankBatch& rank);

}  // namespace moesim
