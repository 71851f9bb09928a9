// timeline.json as Perfetto reads it: complete events on one thread never overlap, and every
// flow arrow leads from a dispatch to the expert kernel it fed.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "app/scenario_run.hpp"
#include "io/scenario_loader.hpp"
#include "io/timeline_writer.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

struct Bar {
  TimePs start_ps;
  TimePs end_ps;
  std::string name;
  int layer;
  int mb;
};
using Track = std::pair<int, int>;  // (pid, tid)

// The events' times in picoseconds, as the writer had them (ts and dur are in microseconds).
TimePs ps(const nlohmann::json& us) { return std::llround(us.get<double>() * 1e6); }

std::map<Track, std::vector<Bar>> tracks(const nlohmann::json& j) {
  std::map<Track, std::vector<Bar>> out;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] != "X") continue;
    const TimePs start = ps(e["ts"]);
    out[{e["pid"].get<int>(), e["tid"].get<int>()}].push_back(
        Bar{start, start + ps(e["dur"]), e["name"].get<std::string>(), e["args"]["layer"].get<int>(),
            e["args"]["microbatch"].get<int>()});
  }
  for (auto& [track, bars] : out)
    std::sort(bars.begin(), bars.end(), [](const Bar& a, const Bar& b) { return a.start_ps < b.start_ps; });
  return out;
}

// Complete events on one track that overlap (disjoint ones may touch: one ends where the next starts).
int overlaps(const std::map<Track, std::vector<Bar>>& by_track) {
  int n = 0;
  for (const auto& [track, bars] : by_track)
    for (std::size_t i = 1; i < bars.size(); ++i)
      if (bars[i].start_ps < bars[i - 1].end_ps) ++n;
  return n;
}

// The bar on `track` that holds time `t` strictly inside, or null.
const Bar* enclosing(const std::map<Track, std::vector<Bar>>& by_track, Track track, TimePs t) {
  const auto found = by_track.find(track);
  if (found == by_track.end()) return nullptr;
  for (const Bar& b : found->second)
    if (b.start_ps <= t && t < b.end_ps) return &b;
  return nullptr;
}

// Checks the timeline of `r` and returns its number of dispatch -> experts arrows.
int check_timeline(const Results& r) {
  const auto j = nlohmann::json::parse(io::timeline_json(r));
  const auto by_track = tracks(j);
  REQUIRE(overlaps(by_track) == 0);
  // Every track with spans has a thread name.
  std::set<Track> named;
  for (const auto& e : j["traceEvents"])
    if (e["ph"] == "M" && e["name"] == "thread_name") named.insert({e["pid"].get<int>(), e["tid"].get<int>()});
  for (const auto& [track, bars] : by_track) REQUIRE(named.count(track) == 1);

  struct End {
    int count = 0;
    const Bar* bar = nullptr;
    int gpu = -1;
  };
  std::map<std::int64_t, std::pair<End, End>> flows;  // id -> (start, finish)
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] != "s" && e["ph"] != "f") continue;
    const Track track{e["pid"].get<int>(), e["tid"].get<int>()};
    End& end = e["ph"] == "s" ? flows[e["id"].get<std::int64_t>()].first : flows[e["id"].get<std::int64_t>()].second;
    ++end.count;
    end.bar = enclosing(by_track, track, ps(e["ts"]));
    end.gpu = track.first;
    if (e["ph"] == "f") REQUIRE(e["bp"] == "e");  // binds to the enclosing slice
  }
  std::set<std::tuple<int, int, const Bar*>> fed;  // (gpu, layer, experts bar)
  for (const auto& [id, ends] : flows) {
    INFO("flow " << id);
    const auto& [from, to] = ends;
    REQUIRE(from.count == 1);
    REQUIRE(to.count == 1);
    REQUIRE(from.bar != nullptr);
    REQUIRE(to.bar != nullptr);
    REQUIRE(from.bar->name == "dispatch");
    REQUIRE(to.bar->name == "experts");
    REQUIRE(from.bar->layer == to.bar->layer);
    REQUIRE(from.bar->mb == to.bar->mb);
    // The same step's dispatch: it started before the kernel, and no later one of that GPU, layer
    // and micro-batch did.
    REQUIRE(from.bar->start_ps <= to.bar->start_ps);
    for (const auto& [track, bars] : by_track)
      for (const Bar& b : bars)
        if (track.first == from.gpu && b.name == "dispatch" && b.layer == to.bar->layer && b.mb == to.bar->mb)
          REQUIRE(!(from.bar->start_ps < b.start_ps && b.start_ps <= to.bar->start_ps));
    REQUIRE(fed.insert({to.gpu, to.bar->layer, to.bar}).second);  // one arrow into each kernel
  }
  return static_cast<int>(flows.size());
}

// Expert kernels that computed tokens (every recorded step, every micro-batch): an arrow must
// lead into each. In these scenarios every GPU that receives tokens in a layer does so in each
// step and micro-batch.
int fed_kernels(const Results& r, int microbatches) {
  int n = 0;
  for (std::int64_t received : r.gpu_layer_received) n += received > 0 ? 1 : 0;
  return n * microbatches * static_cast<int>(r.steps.size());
}

Results run(const char* scenario, const std::vector<std::string>& sets) {
  return run_scenario(io::load_scenario(test::source_path(scenario), sets)).results;
}

}  // namespace

// On the writer before lanes, these runs had 61 and 23 overlapping pairs of spans on a network track.
TEST_CASE("timeline: the default scenario's decode has no overlapping spans on a track", "[timeline]") {
  // EP72 on an NVL72 rack, cut to 6 layers and one step: a GPU's combine starts while its
  // dispatch is still delivering elsewhere.
  const Results r = run("scenarios/default.toml", {"workload.steps=1", "model.layers=6"});
  REQUIRE(fed_kernels(r, 1) > 0);
  REQUIRE(check_timeline(r) == fed_kernels(r, 1));
}

TEST_CASE("timeline: two-micro-batch prefill has no overlapping spans on a track", "[timeline]") {
  const Results r = run("scenarios/smoke.toml", {"workload.phase=prefill", "workload.tokens_per_gpu=512",
                                                 "overlap.mode=two_microbatch", "workload.steps=1"});
  REQUIRE(fed_kernels(r, 2) > 0);
  REQUIRE(check_timeline(r) == fed_kernels(r, 2));
}

TEST_CASE("timeline: arrows over several recorded steps lead to the same step's kernels", "[timeline]") {
  const Results r = run("scenarios/smoke.toml", {"workload.steps=2", "output.timeline_steps=2"});
  REQUIRE(fed_kernels(r, 1) > 0);
  REQUIRE(check_timeline(r) == fed_kernels(r, 1));
}
