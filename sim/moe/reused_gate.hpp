#pragma once
// A gate that draws each MoE layer's routing once and hands the same picks to every step. For the
// serving layer's step costs: with a stationary synthetic gate every step's routing has the same
// statistics, so steps then differ only by their batch composition, and drawing the routing (most
// of a step's cost) is paid once. Without rank locality all ranks draw from one distribution: a
// layer keeps one draw, and the ranks of a step take consecutive slices of it in the order they
// ask (a new step number starts over); with rank locality each rank keeps its own.
#include <memory>
#include <vector>

#include "moe/gate.hpp"

namespace moesim {

class ReusedGate final : public Gate {
 public:
  ReusedGate(std::unique_ptr<Gate> inner, bool per_rank) : inner_(std::move(inner)), per_rank_(per_rank) {}
  void assign(int step, int moe_layer, int src_gpu, int tokens, std::vector<int>& experts) override;
  int experts() const override { return inner_->experts(); }
  int top_k() const override { return inner_->top_k(); }

 private:
  std::unique_ptr<Gate> inner_;
  bool per_rank_;
  std::vector<std::vector<std::vector<int>>> picks_;  // [layer][rank or 0] a step-0 draw, token-major
  std::vector<std::size_t> next_;                     // [layer] shared draw: where the next rank's slice starts
  std::vector<int> step_of_;                          // [layer] the step those slices belong to
};

}  // namespace moesim
