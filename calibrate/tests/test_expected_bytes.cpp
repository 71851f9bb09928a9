// Expected bytes and FLOPs of the measured kernels, on shapes small enough to add up by hand.
#include <catch2/catch.hpp>

#include <vector>

#include "bench/expected_bytes.hpp"

using namespace moesim::calib;

TEST_CASE("gate bytes: router GEMM plus top-k") {
  // T = 2, H = 4, E = 3: weights 3*4*2 = 24, tokens 2*4*2 = 16, fp32 logits 2*3*4 = 24 -> 64.
  CHECK(router_gemm_bytes(2, 4, 3) == 64);
  CHECK(router_gemm_flops(2, 4, 3) == 48);  // 2 * T * H * E
  // k = 2: logits 2*3*4 = 24, bias 3*4 = 12, ids + weights 2*2*(4+4) = 32 -> 68.
  CHECK(topk_bytes(2, 3, 2) == 68);
  CHECK(gate_bytes(2, 4, 3, 2) == 132);
}

TEST_CASE("permute, SwiGLU and combine bytes") {
  // T = 2, H = 4, E = 3, k = 2: ids 2*2*4 = 16, token rows 2*4*2 = 16, permuted rows 2*2*4*2 = 32,
  // row map 16, offsets (3+1)*4 = 16 -> 96.
  CHECK(permute_bytes(2, 4, 3, 2) == 96);
  // N = 3, F = 4: read 3*8*2 = 48, write 3*4*2 = 24 -> 72.
  CHECK(swiglu_bytes(3, 4) == 72);
  // T = 2, H = 4, k = 2: rows 2*2*4*2 = 32, map + weights 2*2*8 = 32, output 2*4*2 = 16 -> 80.
  CHECK(combine_bytes(2, 4, 2) == 80);
  CHECK(copy_bytes(1000) == 2000);
}

TEST_CASE("expert bytes count only experts with tokens") {
  // H = 4, F = 2; weights per active expert 3*4*2*2 = 48.
  // t = 2: 48 + input 2*4*2 = 16 + gate/up out+in 2*2*4*2 = 32 + act out+in 2*2*2*2 = 16 + output 16 = 128.
  // t = 1: 48 + 8 + 16 + 8 + 8 = 88. The idle expert costs nothing: 216 in all.
  const std::vector<int> tpe{2, 0, 1};
  CHECK(expert_bytes(tpe, 4, 2) == 216);
  CHECK(expert_flops(tpe, 4, 2) == 144);  // 6 * H * F * 3 tokens
}

TEST_CASE("all-to-all bandwidths follow nccl-tests") {
  // 1e9 bytes per rank in 1 s: algbw 1 GB/s; 8 ranks: busbw = 1 * 7/8.
  CHECK(alltoall_algbw_GBps(1e9, 1e6) == Approx(1.0));
  CHECK(alltoall_busbw_GBps(1.0, 8) == Approx(0.875));
  CHECK(alltoall_busbw_GBps(1.0, 1) == 0);
}
