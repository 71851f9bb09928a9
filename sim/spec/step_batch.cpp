// Micro-batch splitting of a rank's sequences (see step_batch.hpp).
#include "spec/step_batch.hpp"

namespace moesim {

std::int64_t batch_tokens(const RankBatch& rank) {
  std::int64_t t = 0;
  for (const SeqChunk& c : rank) t += c.new_tokens;
  return t;
}

AttentionWork attention_work(const RankBatch& rank) {
  AttentionWork w;
  for (const SeqChunk& c : rank) w.add(c);
  return w;
}

std::vector<RankBatch> split_microbatches(const RankBatch& rank, int parts) {
  if (parts <= 1) return {rank};
  std::vector<RankBatch> out(2);
  const std::int64_t total = batch_tokens(rank);
  std::int64_t room = (total + 1) / 2;  // the first micro-batch's share, as the engine always split
  for (const SeqChunk& c : rank) {
    if (room <= 0) {
      out[1].push_back(c);
    } else if (c.new_tokens <= room) {
      out[0].push_back(c);
      room -= c.new_tokens;
    } else {
      const int first = static_cast<int>(room);
      out[0].push_back({first, c.context, c.prefill});
      out[1].push_back({c.new_tokens - first, c.context + first, c.prefill});
      room = 0;
    }
  }
  return out;
}

}  // namespace moesim
