// Trace replay gate (see trace_gate.hpp for the mapping rules).
#include "moe/trace_gate.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.hpp"
#include "moe/group_routing.hpp"

namespace moesim {

TraceGate::TraceGate(const std::string& path, int moe_layers, int experts, int top_k, int gpus, int steps_wanted)
    : reader_(std::make_unique<TraceReader>(path)), experts_(experts), top_k_(top_k) {
  const TraceHeader& h = reader_->header();
  auto mismatch = [&](const char* what, int trace, int model) {
    throw InputError(fmt::format("{}: trace has {} = {} but the scenario's model has {}", path, what, trace, model));
  };
  if (h.layers != moe_layers) mismatch("layers (MoE)", h.layers, moe_layers);
  if (h.experts != experts) mismatch("experts", h.experts, experts);
  if (h.top_k != top_k) mismatch("top_k", h.top_k, top_k);
  trace_steps_ = h.steps;
  if (trace_steps_ == 0) throw InputError(fmt::format("{}: trace has no steps", path));
  // The whole file must keep the format's promises, also where replay never reads (the steps past
  // the scenario's, the end marker): a corrupt trace is an input error before anything runs. The
  // steps replay reads are only framed here; next() checks them in full when replay reads them.
  reader_->verify(static_cast<std::uint64_t>(std::max(steps_wanted, 0)), current_);
  if (static_cast<std::uint64_t>(steps_wanted) > trace_steps_)
    notes_.push_back(fmt::format("trace has {} steps, scenario asks {}: steps wrap around to the trace's first",
                                 trace_steps_, steps_wanted));
  else if (static_cast<std::uint64_t>(steps_wanted) < trace_steps_)
    notes_.push_back(fmt::format("trace has {} steps, scenario uses the first {}", trace_steps_, steps_wanted));
  if (h.ranks > gpus)
    notes_.push_back(
        fmt::format("trace has {} ranks, EP size {}: ranks {}..{} are not replayed", h.ranks, gpus, gpus, h.ranks - 1));
  else if (h.ranks < gpus)
    notes_.push_back(
        fmt::format("trace has {} ranks, EP size {}: GPU g replays rank g mod {}", h.ranks, gpus, h.ranks));
  if (h.counts_only())
    notes_.push_back("counts-only trace: tokens rebuilt from per-expert counts (dispatch dedup is approximate)");
}

void TraceGate::load_step(int step) {
  const auto want = static_cast<std::int64_t>(static_cast<std::uint64_t>(step) % trace_steps_);
  // Sequential replay reads forward; a wrap (or an earlier step) starts again from the top.
  if (want < position_) {
    reader_->rewind();
    position_ = -1;
  }
  while (position_ < want) {
    if (!reader_->next(current_))
      throw InputError(
          fmt::format("{}: ended after {} steps, header says {}", reader_->path(), position_ + 1, trace_steps_));
    ++position_;
  }
  loaded_ = step;
}

void TraceGate::assign(int step, int moe_layer, int src_gpu, int tokens, std::vector<int>& out) {
  if (step != loaded_) load_step(step);
  const TraceHeader& h = reader_->header();
  const int rank = src_gpu % h.ranks;
  const auto block =
      static_cast<std::size_t>(moe_layer) * static_cast<std::size_t>(h.ranks) + static_cast<std::size_t>(rank);
  const auto k = static_cast<std::size_t>(top_k_);
  out.resize(static_cast<std::size_t>(tokens) * k);
  const std::int32_t* ids = nullptr;
  std::size_t have = 0;  // tokens available in the block
  if (h.counts_only()) {
    // Deal the block's (expert, count) multiset out to tokens, top_k distinct experts each.
    expanded_.clear();
    const std::uint32_t* counts = current_.counts.data() + block * static_cast<std::size_t>(experts_);
    std::vector<std::uint32_t> left(counts, counts + experts_);
    std::uint64_t total = 0;
    for (std::uint32_t c : left) total += c;
    int e = 0;
    while (total >= k) {
      const std::size_t before = expanded_.size();
      for (int tries = 0; tries < experts_ && expanded_.size() - before < k; ++tries, e = (e + 1) % experts_)
        if (left[static_cast<std::size_t>(e)] > 0) {
          --left[static_cast<std::size_t>(e)];
          --total;
          expanded_.push_back(e);
        }
      if (expanded_.size() - before < k) {  // fewer than top_k experts left with counts
        expanded_.resize(before);
        break;
      }
    }
    ids = nullptr;
    have = expanded_.size() / k;
  } else {
    ids = current_.experts.data() + current_.offsets[block];
    have = current_.tokens[block];
  }
  if (have == 0)
    throw InputError(fmt::format("{}: step {} layer {} rank {} has no tokens to replay", reader_->path(), current_.step,
                                 moe_layer, rank));
  if (have != static_cast<std::size_t>(tokens) && !batch_noted_) {
    batch_noted_ = true;
    notes_.push_back(
        fmt::format("trace blocks hold {} tokens (step {}, layer {}, rank {}), the batch is {} per GPU: "
                    "blocks are {}",
                    have, current_.step, moe_layer, rank, tokens,
                    have > static_cast<std::size_t>(tokens) ? "truncated" : "reused cyclically"));
  }
  for (std::size_t t = 0; t < static_cast<std::size_t>(tokens); ++t) {
    const std::size_t src = (t % have) * k;
    for (std::size_t j = 0; j < k; ++j) out[t * k + j] = ids ? ids[src + j] : expanded_[src + j];
  }
  if (group_size_ > 0) apply_group_limit(out, tokens);
}

void TraceGate::limit_groups(int groups, int groups_per_token) {
  group_size_ = groups > 0 ? experts_ / groups : 0;
  groups_per_token_ = groups_per_token;
}

void TraceGate::apply_group_limit(std::vector<int>& out, int tokens) {
  std::int64_t changed = 0;
  for (int t = 0; t < tokens; ++t)
    changed += limit_token_groups(out.data() + static_cast<std::size_t>(t) * static_cast<std::size_t>(top_k_), top_k_,
                                  group_size_, groups_per_token_, scratch_);
  if (changed == 0) return;
  if (remapped_ == 0) {
    remap_note_ = notes_.size();
    notes_.emplace_back();
  }
  remapped_ += changed;
  notes_[remap_note_] = fmt::format(
      "group limit (groups of {} experts, at most {} per token): {} recorded assignments remapped into their "
      "token's kept groups",
      group_size_, groups_per_token_, remapped_);
}

}  // namespace moesim
