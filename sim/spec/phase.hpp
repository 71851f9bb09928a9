#pragma once
// The phases of an MoE layer as the engine schedules them and the reports name them.
#include <cstdint>

namespace moesim {

// Phases as reported. Compute phases run on the GPU's compute stream; dispatch and combine are
// network phases measured from the first send to the last arrival.
enum class Phase : std::uint8_t {
  attention,
  dense_ffn,
  gate,
  shared_experts,
  dispatch,
  experts,
  combine,
  reduce,
  stream_wait
};
inline constexpr int kPhaseCount = 9;
constexpr const char* phase_name(Phase p) {
  switch (p) {
    case Phase::attention:
      return "attention";
    case Phase::dense_ffn:
      return "dense_ffn";
    case Phase::gate:
      return "gate";
    case Phase::shared_experts:
      return "shared_experts";
    case Phase::dispatch:
      return "dispatch";
    case Phase::experts:
      return "experts";
    case Phase::combine:
      return "combine";
    case Phase::reduce:
      return "reduce";
    case Phase::stream_wait:
      return "stream_wait";
  }
  return "?";
}

}  // namespace moesim
