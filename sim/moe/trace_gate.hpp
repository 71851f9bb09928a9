#pragma once
// Replays a recorded routing trace as the gate. The trace gives the routing, the scenario the batch:
// when a rank's block holds more tokens than a GPU's batch, its first tokens are used; when it holds
// fewer, its tokens are reused cyclically. Steps beyond the trace's wrap around to its first step;
// with fewer GPUs than trace ranks GPU g replays rank g, with more GPUs GPU g replays rank g mod R.
// Counts-only traces are expanded into tokens: each token takes the next top_k distinct experts
// from the (rank, expert) counts, in expert order, cycling. Each rule that applies is reported.
#include <memory>
#include <string>
#include <vector>

#include "moe/gate.hpp"
#include "trace/trace.hpp"

namespace moesim {

class TraceGate final : public Gate {
 public:
  // Throws InputError when the trace does not fit the model (layers, experts, top_k) or breaks the
  // format anywhere in the file: checked on opening in one pass that reads in full only the steps
  // replay will not read (those it reads are checked as they are read, still before any result).
  TraceGate(const std::string& path, int moe_layers, int experts, int top_k, int gpus, int steps_wanted);
  // Steps must be asked in non-decreasing order (the simulator does); a step is read once.
  void assign(int step, int moe_layer, int src_gpu, int tokens, std::vector<int>& experts) override;
  int experts() const override { return experts_; }
  int top_k() const override { return top_k_; }
  // Group-limited routing (moe/group_routing.hpp): each replayed token's picks are remapped onto
  // its groups_per_token groups holding most of them (limit_token_groups). Call before assign();
  // the limit must fit (check_group_limit).
  void limit_groups(int groups, int groups_per_token);
  // How the trace was mapped onto the scenario (for the report); complete after the run.
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  void load_step(int step);
  void apply_group_limit(std::vector<int>& out, int tokens);
  std::unique_ptr<TraceReader> reader_;
  int experts_, top_k_;
  int loaded_ = -1;             // scenario step served from `current_`
  std::int64_t position_ = -1;  // index of the trace step in `current_`
  std::uint64_t trace_steps_ = 0;
  TraceStep current_;
  std::vector<int> expanded_;  // counts-only: token-level ids of one block
  std::vector<std::string> notes_;
  bool batch_noted_ = false;
  int group_size_ = 0;  // experts per group; 0: no group limit
  int groups_per_token_ = 0;
  std::int64_t remapped_ = 0;   // picks moved into a token's kept groups so far
  std::size_t remap_note_ = 0;  // its entry in notes_, once there is one
  std::vector<int> scratch_;
};

}  // namespace moesim
