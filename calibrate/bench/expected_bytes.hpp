#pragma once
// The bytes each measured kernel must move (and the FLOPs of the GEMMs): the minimum traffic of
// its inputs and outputs, assuming each is read or written exactly once (no cache reuse counted),
// bf16 activations and weights, fp32 logits and gate weights, int32 indices.
#include <cstdint>
#include <span>

namespace moesim::calib {

// Router GEMM: reads weights E x H and tokens T x H (bf16), writes fp32 logits T x E.
double router_gemm_bytes(std::int64_t tokens, int hidden, int experts);
double router_gemm_flops(std::int64_t tokens, int hidden, int experts);
// Top-k: reads fp32 logits T x E (and the E-entry bias), writes T x k ids (int32) and weights (fp32).
double topk_bytes(std::int64_t tokens, int experts, int top_k);
// Gate = router GEMM + top-k (the logits are written once and read once).
double gate_bytes(std::int64_t tokens, int hidden, int experts, int top_k);
// Permute: reads the T x k ids and T token rows, writes T x k rows (bf16, H wide), the T x k
// row map and E + 1 offsets.
double permute_bytes(std::int64_t tokens, int hidden, int experts, int top_k);
// SwiGLU over N rows: reads N x 2F, writes N x F (bf16).
double swiglu_bytes(std::int64_t rows, int ffn);
// Expert FFN over the tokens per expert: the weights of every expert with tokens (3 H F), the
// input rows, the gate/up output written and read, the activation written and read, the output.
double expert_bytes(std::span<const int> tokens_per_expert, int hidden, int ffn);
double expert_flops(std::span<const int> tokens_per_expert, int hidden, int ffn);  // 6 H F per token
// Combine: reads T x k rows (bf16, H wide), the row map and weights, writes T rows.
double combine_bytes(std::int64_t tokens, int hidden, int top_k);
// Device-to-device copy of n bytes: read + write.
double copy_bytes(double bytes);

// nccl-tests conventions for all-to-all: algbw = bytes per rank / time; busbw = algbw (n-1)/n.
double alltoall_algbw_GBps(double bytes, double time_us);
double alltoall_busbw_GBps(double algbw_GBps, int ranks);

}  // namespace moesim::calib
