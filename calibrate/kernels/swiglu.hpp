#pragma once
// Fused SwiGLU between the expert GEMMs: out = silu(gate) * up from the fused gate/up projection
// output, in fp32, rounded once to bf16. Memory-bound: 16-byte loads and stores (8 bf16 each).
#include <cuda_runtime_api.h>

#include <cstdint>

namespace moesim::calib {

// y [rows][2 * ffn] bf16 (gate half, then up half) -> out [rows][ffn] bf16; ffn % 8 == 0.
void launch_swiglu(const std::uint16_t* y, std::int64_t rows, int ffn, std::uint16_t* out, cudaStream_t stream);

}  // namespace moesim::calib
