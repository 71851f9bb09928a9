// Group-limited routing: synthetic gates and trace replay keep a token's experts inside at most
// groups_per_token groups; the trace remap rule on hand-built tokens; the setting's checks.
#include <catch2/catch.hpp>

#include <algorithm>
#include <set>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "gate_test_util.hpp"
#include "io/scenario_loader.hpp"
#include "moe/gate.hpp"
#include "moe/group_routing.hpp"
#include "moe/trace_gate.hpp"
#include "test_util.hpp"
#include "trace_test_util.hpp"

using namespace moesim;

namespace {

// Most groups any token of `ids` (top_k per token) touches.
int max_groups_per_token(const std::vector<int>& ids, int top_k, int group_size) {
  int most = 0;
  for (std::size_t t = 0; t < ids.size(); t += static_cast<std::size_t>(top_k)) {
    std::set<int> groups;
    for (int j = 0; j < top_k; ++j) groups.insert(ids[t + static_cast<std::size_t>(j)] / group_size);
    most = std::max(most, static_cast<int>(groups.size()));
  }
  return most;
}

}  // namespace

TEST_CASE("synthetic gates keep each token inside groups_per_token groups", "[group]") {
  for (GateModel kind : {GateModel::uniform, GateModel::zipf, GateModel::lognormal}) {
    for (double locality : {0.0, 0.5}) {
      INFO(setting_name(kind) << " rank_locality " << locality);
      GateSpec spec;
      spec.kind = kind;
      spec.zipf_exponent = 1.2;
      spec.layer_variation = true;
      spec.rank_locality = locality;
      spec.groups = 8;
      spec.groups_per_token = 4;
      auto gate = make_synthetic_gate(spec, 256, 8, 3, 11, 4);
      std::vector<int> ids;
      int widest = 0;
      for (int layer = 0; layer < 3; ++layer)
        for (int src = 0; src < 4; ++src) {
          gate->assign(0, layer, src, 512, ids);
          REQUIRE(ids.size() == 512u * 8u);
          REQUIRE(test::tokens_distinct(ids, 8, 256));
          widest = std::max(widest, max_groups_per_token(ids, 8, 32));
        }
      CHECK(widest <= 4);
      CHECK(widest >= 2);  // the limit binds, it does not collapse tokens into one group
      // Deterministic: the same (step, layer, GPU) draws the same again.
      std::vector<int> again;
      auto twin = make_synthetic_gate(spec, 256, 8, 3, 11, 4);
      twin->assign(0, 2, 3, 512, again);
      CHECK(again == ids);
    }
  }
}

TEST_CASE("group choice follows the groups' popularity mass", "[group]") {
  // zipf s = 2 over 8 experts in 4 groups of 2, one group per token, top_k 1: group g's mass is
  // sum over its ranks r of 1/(r+1)^2; without layer variation rank = expert id.
  GateSpec spec;
  spec.kind = GateModel::zipf;
  spec.zipf_exponent = 2.0;
  spec.groups = 4;
  spec.groups_per_token = 1;
  auto gate = make_synthetic_gate(spec, 8, 1, 1, 3);
  std::vector<int> ids;
  gate->assign(0, 0, 0, 200000, ids);
  double mass[4] = {}, total = 0;
  for (int e = 0; e < 8; ++e) {
    mass[e / 2] += 1.0 / ((e + 1.0) * (e + 1.0));
    total += 1.0 / ((e + 1.0) * (e + 1.0));
  }
  int seen[4] = {};
  for (int e : ids) ++seen[e / 2];
  for (int g = 0; g < 4; ++g) CHECK(static_cast<double>(seen[g]) / 200000.0 == Approx(mass[g] / total).margin(0.005));
}

TEST_CASE("the trace remap rule on hand-built tokens", "[group]") {
  std::vector<int> scratch;
  // 16 experts in 4 groups of 4, at most 2 groups per token. Groups 0, 1, 2, 1: group 1 has two
  // picks; groups 0 and 2 tie with one, group 0 holds the earlier pick. Expert 9 (group 2) becomes
  // the lowest free id of groups {0, 1}: 0 is taken, so 1.
  int a[] = {0, 5, 9, 6};
  CHECK(limit_token_groups(a, 4, 4, 2, scratch) == 1);
  CHECK(std::vector<int>(a, a + 4) == std::vector<int>{0, 5, 1, 6});
  // One group allowed: group 3 has two picks; 0 and 4 become 14 and 15 in pick order.
  int b[] = {12, 13, 0, 4};
  CHECK(limit_token_groups(b, 4, 4, 1, scratch) == 2);
  CHECK(std::vector<int>(b, b + 4) == std::vector<int>{12, 13, 14, 15});
  // Ties on counts go to the earlier pick: groups 2, 0 with one each, keep group 2.
  int c[] = {9, 2};
  CHECK(limit_token_groups(c, 2, 4, 1, scratch) == 1);
  CHECK(std::vector<int>(c, c + 2) == std::vector<int>{9, 8});
  // Already inside the limit: untouched.
  int d[] = {0, 1, 4, 5};
  CHECK(limit_token_groups(d, 4, 4, 2, scratch) == 0);
  CHECK(std::vector<int>(d, d + 4) == std::vector<int>{0, 1, 4, 5});
  // A limit that cannot hold the picks is a programming error (check_group_limit comes first).
  int e[] = {0, 4, 8};
  CHECK_THROWS_AS(limit_token_groups(e, 3, 2, 1, scratch), Error);
}

TEST_CASE("trace replay remaps recorded routing onto the group limit", "[group]") {
  const auto dir = test::scratch_dir("group_trace");
  SECTION("random 256-expert routing ends inside 4 of 8 groups") {
    const TraceHeader h = trace_test::make_header(2, 256, 8, 2);
    std::vector<TraceStep> steps;
    for (std::uint32_t s = 0; s < 2; ++s) {
      TraceStep st;
      st.step = s;
      std::uint32_t x = 12345 + s;
      for (int b = 0; b < 4; ++b) {
        st.tokens.push_back(16);
        for (int t = 0; t < 16; ++t) {
          std::vector<int> picks;
          while (picks.size() < 8) {
            x = x * 1664525u + 1013904223u;
            const int e = static_cast<int>((x >> 8) % 256u);
            if (std::find(picks.begin(), picks.end(), e) == picks.end()) picks.push_back(e);
          }
          st.experts.insert(st.experts.end(), picks.begin(), picks.end());
        }
      }
      st.index(8);
      steps.push_back(st);
    }
    const std::string path = (dir / "random.moetrace").string();
    trace_test::write_trace(path, h, steps);
    TraceGate gate(path, 2, 256, 8, 2, 2);
    gate.limit_groups(8, 4);
    std::vector<int> ids;
    for (int s = 0; s < 2; ++s)
      for (int l = 0; l < 2; ++l)
        for (int g = 0; g < 2; ++g) {
          gate.assign(s, l, g, 16, ids);
          CHECK(max_groups_per_token(ids, 8, 32) <= 4);
          CHECK(test::tokens_distinct(ids, 8, 256));
        }
    const auto& notes = gate.notes();
    CHECK(std::any_of(notes.begin(), notes.end(),
                      [](const std::string& n) { return n.find("remapped") != std::string::npos; }));
  }
  SECTION("a hand-built token remaps exactly and the note counts it") {
    const TraceHeader h = trace_test::make_header(1, 16, 4, 1);
    TraceStep st;
    st.tokens = {2};
    st.experts = {0, 5, 9, 6,   // remapped: 9 -> 1
                  4, 5, 6, 7};  // one group: kept
    st.index(4);
    const std::string path = (dir / "hand.moetrace").string();
    trace_test::write_trace(path, h, {st});
    TraceGate gate(path, 1, 16, 4, 1, 1);
    gate.limit_groups(4, 2);
    std::vector<int> ids;
    gate.assign(0, 0, 0, 2, ids);
    CHECK(ids == std::vector<int>{0, 5, 1, 6, 4, 5, 6, 7});
    const auto& notes = gate.notes();
    CHECK(std::any_of(notes.begin(), notes.end(), [](const std::string& n) {
      return n.find(" 1 recorded assignments remapped") != std::string::npos;
    }));
  }
}

TEST_CASE("group limits that do not fit are input errors naming the key", "[group]") {
  GateSpec spec;
  spec.groups = 7;
  CHECK_THROWS_WITH(check_group_limit(spec, 256, 8, "s.toml"), Catch::Contains("s.toml: gate.groups = 7"));
  spec.groups = 8;
  spec.groups_per_token = 9;
  CHECK_THROWS_WITH(check_group_limit(spec, 256, 8, "s.toml"), Catch::Contains("gate.groups_per_token = 9"));
  spec.groups = 64;  // 4 experts per group
  spec.groups_per_token = 1;
  CHECK_THROWS_AS(check_group_limit(spec, 256, 8, "s.toml"), InputError);
  spec.groups_per_token = 2;
  CHECK_NOTHROW(check_group_limit(spec, 256, 8, "s.toml"));
  GateSpec three;
  three.groups = 3;
  CHECK_THROWS_AS(make_synthetic_gate(three, 16, 2, 1, 1), InputError);
  // Through the loader and the engine: the scenario file is named.
  const Scenario sc = io::load_scenario(test::source_path("scenarios/smoke.toml"), {"gate.groups=3"});
  CHECK_THROWS_WITH(run_scenario(sc), Catch::Contains("smoke.toml: gate.groups = 3"));
}

TEST_CASE("the smoke scenario runs group-limited", "[group]") {
  const Scenario sc =
      io::load_scenario(test::source_path("scenarios/smoke.toml"), {"gate.groups=4", "gate.groups_per_token=1"});
  const ScenarioRun run = run_scenario(sc);
  CHECK(run.summary.step_us_mean > 0);
  CHECK(run.results.assignments == 3u * 8u * 32u * 2u * 3u);
}
