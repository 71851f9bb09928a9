#pragma once
// What the engine can simulate: the ranges of rates and efficiencies the loaders accept. A rate
// below them makes one ordinary transfer or kernel take longer than the simulated-time limit
// (kTimeLimitPs, about 26.7 days: 1 GB at 1 MB/s takes 1000 s, so a step would need a million such);
// above them, or below, a value is almost surely a unit slip (B/s for GB/s). Time arithmetic stays
// checked beyond them: a run that still reaches the limit stops with an error naming where.
namespace moesim {

inline constexpr double kMinRate_GBps = 1e-3;    // 1 MB/s: links, NICs, HBM, copy engines, SM copy rates
inline constexpr double kMaxRate_GBps = 1e7;     // 10 PB/s
inline constexpr double kMinRate_TFLOPs = 1e-3;  // 1 GFLOP/s
inline constexpr double kMaxRate_TFLOPs = 1e7;
// Efficiencies (achieved / peak) of kernels and large transfers below this are unit slips too.
inline constexpr double kMinEfficiency = 1e-3;
// A message-size efficiency table reaches far lower: a few-byte all-to-all message is all latency
// (measured NCCL busbw of 1 KB messages is ~7e-4 of NVLink's peak).
inline constexpr double kMinMessageEfficiency = 1e-6;

}  // namespace moesim
