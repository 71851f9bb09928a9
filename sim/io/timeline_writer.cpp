// timeline.json (see timeline_writer.hpp), through nlohmann::json.
#include "io/timeline_writer.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <numeric>
#include <unordered_map>
#include <vector>

namespace moesim::io {

namespace {

using nlohmann::ordered_json;

constexpr int kComputeTid = 0;
constexpr int kFirstNetworkTid = 1;

bool on_network(Phase p) { return p == Phase::dispatch || p == Phase::combine; }

std::string lane_name(int lane) { return lane == 0 ? "network" : fmt::format("network {}", lane + 1); }

// Key of a GPU's phase of one layer and micro-batch (over all recorded steps).
std::uint64_t span_key(int gpu, int layer, int mb) {
  return static_cast<std::uint64_t>(static_cast<std::uint16_t>(gpu)) << 32 |
         static_cast<std::uint64_t>(static_cast<std::uint16_t>(layer)) << 8 | static_cast<std::uint8_t>(mb);
}

// A point strictly inside a span (where Perfetto binds a flow end to the enclosing slice).
TimePs middle(const Span& s) { return s.start_ps + (s.end_ps - s.start_ps) / 2; }

}  // namespace

std::string timeline_json(const Results& r) {
  const std::vector<Span>& spans = r.timeline;
  std::vector<std::size_t> order(spans.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return spans[a].start_ps < spans[b].start_ps; });

  // Thread of every span: interval partitioning by start time, lowest free lane first, which
  // uses as few lanes as the most transfers in flight at once on the GPU.
  std::vector<int> tid(spans.size(), kComputeTid);
  std::vector<std::vector<TimePs>> lane_free_ps(r.gpus.size());  // per GPU: when each lane is free
  for (std::size_t i : order) {
    const Span& s = spans[i];
    if (!on_network(s.phase)) continue;
    const auto g = static_cast<std::size_t>(s.gpu);
    if (g >= lane_free_ps.size()) lane_free_ps.resize(g + 1);  // spans of a GPU not in r.gpus
    std::vector<TimePs>& lanes = lane_free_ps[g];
    auto lane = std::find_if(lanes.begin(), lanes.end(), [&](TimePs free) { return free <= s.start_ps; });
    if (lane == lanes.end()) lane = lanes.insert(lanes.end(), s.start_ps);
    *lane = s.end_ps;
    tid[i] = kFirstNetworkTid + static_cast<int>(lane - lanes.begin());
  }

  ordered_json events = ordered_json::array();
  for (const GpuResult& g : r.gpus) {
    events.push_back(
        {{"name", "process_name"}, {"ph", "M"}, {"pid", g.gpu}, {"args", {{"name", fmt::format("GPU {}", g.gpu)}}}});
    events.push_back(
        {{"name", "thread_name"}, {"ph", "M"}, {"pid", g.gpu}, {"tid", kComputeTid}, {"args", {{"name", "compute"}}}});
    // Every GPU names at least one lane; Perfetto keys thread names by tid alone, so a lane's
    // name depends only on its number.
    const std::size_t lanes = std::max<std::size_t>(1, lane_free_ps[static_cast<std::size_t>(g.gpu)].size());
    for (std::size_t k = 0; k < lanes; ++k)
      events.push_back({{"name", "thread_name"},
                        {"ph", "M"},
                        {"pid", g.gpu},
                        {"tid", kFirstNetworkTid + static_cast<int>(k)},
                        {"args", {{"name", lane_name(static_cast<int>(k))}}}});
  }
  for (std::size_t i = 0; i < spans.size(); ++i) {
    const Span& s = spans[i];
    events.push_back({{"name", phase_name(s.phase)},
                      {"cat", on_network(s.phase) ? "network" : "compute"},
                      {"ph", "X"},
                      {"ts", us_from_ps(s.start_ps)},
                      {"dur", us_from_ps(s.end_ps - s.start_ps)},
                      {"pid", s.gpu},
                      {"tid", tid[i]},
                      {"args", {{"layer", s.layer}, {"microbatch", s.mb}}}});
  }

  // Flow arrows. The dispatch that fed an expert kernel is its sender's dispatch of the same layer
  // and micro-batch that started last before the kernel (earlier steps' started earlier; later
  // steps' start after it).
  std::unordered_map<std::uint64_t, std::vector<std::size_t>> dispatches;  // in start order
  for (std::size_t i : order)
    if (spans[i].phase == Phase::dispatch) dispatches[span_key(spans[i].gpu, spans[i].layer, spans[i].mb)].push_back(i);
  int flow_id = 0;
  for (std::size_t i : order) {
    const Span& e = spans[i];
    if (e.phase != Phase::experts || e.fed_by_gpu < 0) continue;
    const auto found = dispatches.find(span_key(e.fed_by_gpu, e.layer, e.mb));
    if (found == dispatches.end()) continue;
    const std::vector<std::size_t>& from = found->second;
    const auto after = std::upper_bound(from.begin(), from.end(), e.start_ps,
                                        [&](TimePs t, std::size_t d) { return t < spans[d].start_ps; });
    if (after == from.begin()) continue;
    const std::size_t d = *std::prev(after);
    ++flow_id;
    events.push_back({{"name", "tokens"},
                      {"cat", "dispatch"},
                      {"ph", "s"},
                      {"id", flow_id},
                      {"ts", us_from_ps(middle(spans[d]))},
                      {"pid", spans[d].gpu},
                      {"tid", tid[d]}});
    events.push_back({{"name", "tokens"},
                      {"cat", "dispatch"},
                      {"ph", "f"},
                      {"bp", "e"},
                      {"id", flow_id},
                      {"ts", us_from_ps(middle(e))},
                      {"pid", e.gpu},
                      {"tid", tid[i]}});
  }
  ordered_json j;
  j["displayTimeUnit"] = "ns";
  j["traceEvents"] = std::move(events);
  return j.dump() + "\n";
}

}  // namespace moesim::io
