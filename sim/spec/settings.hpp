#pragma once
// A scenario's settings as enums, each with the names scenario files use; strings stop at io/,
// which parses a name once (parse_setting) and writes it back (setting_name).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace moesim {

enum class WorkloadPhase : std::uint8_t { decode, prefill };
enum class NetworkModelKind : std::uint8_t { flow, analytic };
enum class OverlapMode : std::uint8_t { none, two_microbatch };
// The synthetic gate's popularity model (a trace replaces it: Scenario::trace_path).
enum class GateModel : std::uint8_t { uniform, zipf, lognormal };
// Strategies compute a placement (moe/placement_strategies.hpp); from_file reads one.
enum class PlacementKind : std::uint8_t { contiguous, round_robin, greedy, redundant, topology_aware, from_file };
enum class FaultKind : std::uint8_t { link_down, link_degraded, slow_gpu, gpu_down };
// How an expert-parallel kernel moves tokens (comm/collective_plan.hpp): flat NCCL all-to-all, one
// RDMA copy per destination NVLink domain forwarded over NVLink, one message per (token, expert),
// or direct loads/stores inside one NVLink domain.
enum class EpMode : std::uint8_t { nccl, hierarchical, low_latency, one_sided };
// How a flow picks among equal-cost routes (net/topology.hpp): per-flow hashing over the stored
// cheapest paths, or deterministic destination-based routing (D-mod-k).
enum class RoutingKind : std::uint8_t { ecmp, dmodk };

// The names of each setting's values, in declaration order.
template <class E>
struct SettingNames;
template <>
struct SettingNames<WorkloadPhase> {
  static constexpr std::array<std::string_view, 2> names{"decode", "prefill"};
};
template <>
struct SettingNames<NetworkModelKind> {
  static constexpr std::array<std::string_view, 2> names{"flow", "analytic"};
};
template <>
struct SettingNames<OverlapMode> {
  static constexpr std::array<std::string_view, 2> names{"none", "two_microbatch"};
};
template <>
struct SettingNames<GateModel> {
  static constexpr std::array<std::string_view, 3> names{"uniform", "zipf", "lognormal"};
};
template <>
struct SettingNames<PlacementKind> {
  static constexpr std::array<std::string_view, 6> names{"contiguous", "round_robin",    "greedy",
                                                         "redundant",  "topology_aware", "from_file"};
};
template <>
struct SettingNames<FaultKind> {
  static constexpr std::array<std::string_view, 4> names{"link_down", "link_degraded", "slow_gpu", "gpu_down"};
};

template <>
struct SettingNames<EpMode> {
  static constexpr std::array<std::string_view, 4> names{"nccl", "hierarchical", "low_latency", "one_sided"};
};

template <>
struct SettingNames<RoutingKind> {
  static constexpr std::array<std::string_view, 2> names{"ecmp", "dmodk"};
};

template <class E>
constexpr std::string_view setting_name(E value) {
  return SettingNames<E>::names[static_cast<std::size_t>(value)];
}
template <class E>
std::string setting_string(E value) {
  return std::string(setting_name(value));
}
template <class E>
std::optional<E> parse_setting(std::string_view name) {
  const auto& names = SettingNames<E>::names;
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return static_cast<E>(i);
  return std::nullopt;
}
template <class E>
std::vector<std::string> setting_names() {
  return {SettingNames<E>::names.begin(), SettingNames<E>::names.end()};
}

}  // namespace moesim
