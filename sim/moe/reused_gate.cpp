// Routing drawn once and reused (see reused_gate.hpp).
#include "moe/reused_gate.hpp"

#include <algorithm>

namespace moesim {

void ReusedGate::assign(int step, int moe_layer, int src_gpu, int tokens, std::vector<int>& experts) {
  const auto l = static_cast<std::size_t>(moe_layer);
  const std::size_t slot = per_rank_ ? static_cast<std::size_t>(src_gpu) : 0;
  if (picks_.size() <= l) {
    picks_.resize(l + 1);
    next_.resize(l + 1, 0);
    step_of_.resize(l + 1, -1);
  }
  if (picks_[l].size() <= slot) picks_[l].resize(slot + 1);
  std::vector<int>& p = picks_[l][slot];
  const std::size_t k = static_cast<std::size_t>(top_k());
  // A new step starts its slices of the shared draw from the beginning.
  if (step != step_of_[l]) {
    step_of_[l] = step;
    next_[l] = 0;
  }
  const std::size_t begin = per_rank_ ? 0 : next_[l];
  const std::size_t end = begin + static_cast<std::size_t>(tokens) * k;
  if (p.size() < end) {
    // A synthetic gate's stream for (step, layer, rank) is drawn token by token: a longer draw
    // starts with the shorter one, so growing the buffer keeps the picks handed out so far.
    const auto more = std::max(end / k, 2 * p.size() / k);
    inner_->assign(0, moe_layer, per_rank_ ? src_gpu : 0, static_cast<int>(more), p);
  }
  experts.assign(p.begin() + static_cast<std::ptrdiff_t>(begin), p.begin() + static_cast<std::ptrdiff_t>(end));
  if (!per_rank_) next_[l] = end;
}

}  // namespace moesim
