#pragma once
// The top-k gate kernel: one warp per token turns its fp32 router logits into top_k expert ids
// and weights (softmax top-k, or sigmoid with group-limited top-k and a selection-only bias).
// It reads the logits once with 16-byte loads (when experts % 4 == 0), yet is bound by instruction
// issue: about a third of the copy bandwidth at 32768 tokens on an H100.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/gate_config.hpp"

namespace moesim::calib {

// ids / weights: [tokens][top_k], by decreasing selection score (ties: lower expert id).
// `bias` (experts floats) is used by the sigmoid gate only and may be null. Throws Error for a
// configuration the kernel cannot run (see validate_gate_config).
void launch_topk(const float* logits, const float* bias, int tokens, const GateConfig& config, std::int32_t* ids,
                 float* weights, cudaStream_t stream);

}  // namespace moesim::calib
