// Tests for placement files: TOML and CSV round trips for every strategy, the default layer,
// replica order, and broken files whose errors name the file and line.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/error.hpp"
#include "io/placement_io.hpp"
#include "moe/placement_strategies.hpp"
#include "test_util.hpp"

using moesim::InputError;
using moesim::Placement;
using moesim::io::load_placement;
using Ids = std::vector<int>;

TEST_CASE("placement io: round trip of every strategy, TOML and CSV", "[placement][io]") {
  const auto dir = moesim::test::scratch_dir("placement-io-rt");
  moesim::PlacementInputs in;
  in.moe_layers = 3;
  in.experts = 20;
  in.gpus = 8;
  in.gpu_domain = {0, 0, 0, 0, 1, 1, 1, 1};
  for (int l = 0; l < 3; ++l) {
    std::vector<double> load;
    for (int e = 0; e < 20; ++e) load.push_back(1.0 / ((e * (l + 3)) % 20 + 1));
    in.load.push_back(load);
    std::vector<double> cos(190);
    for (std::size_t k = 0; k < cos.size(); ++k) cos[k] = static_cast<double>((k * (l + 5)) % 11);
    in.coselect.push_back(cos);
  }
  in.redundant_slots = 4;  // 24 / 8 = 3 slots a GPU
  for (const auto& kind : moesim::placement_strategy_kinds()) {
    const std::string name = moesim::setting_string(kind);
    INFO(name);
    const Placement p = moesim::make_placement(kind, in);
    const auto toml = moesim::test::write_file(dir, name + ".toml", moesim::io::placement_to_toml(p));
    const auto csv = moesim::test::write_file(dir, name + ".csv", moesim::io::placement_to_csv(p));
    REQUIRE(load_placement(toml, 3, 20, 8) == p);
    REQUIRE(load_placement(csv, 3, 20, 8) == p);
  }
  // Identical layers are written once, as the default.
  const Placement c = moesim::make_placement(moesim::PlacementKind::contiguous, 3, 20, 8);
  REQUIRE(moesim::io::placement_to_toml(c).find("default = true") != std::string::npos);
  REQUIRE(moesim::io::placement_to_csv(c).find("\n*,19,7\n") != std::string::npos);
}

TEST_CASE("placement io: TOML default layer, override and replica order", "[placement][io]") {
  const auto dir = moesim::test::scratch_dir("placement-io-toml");
  const auto path = moesim::test::write_file(dir, "p.toml", R"(gpus = 4
[[layer]]
default = true
experts = [[0], [1, 3], [2]]
[[layer]]
index = 1
experts = [[3, 0], [2], [1]]
)");
  const Placement p = load_placement(path, 3, 3, 4);
  REQUIRE(p.replicas(0, 1) == Ids{1, 3});
  REQUIRE(p.replicas(2, 1) == Ids{1, 3});
  REQUIRE(p.replicas(1, 0) == Ids{3, 0});  // order kept: the planner's round robin follows it
  REQUIRE(p.replicas(1, 2) == Ids{1});
}

TEST_CASE("placement io: CSV default rows, override and replica order", "[placement][io]") {
  const auto dir = moesim::test::scratch_dir("placement-io-csv");
  const auto path = moesim::test::write_file(dir, "p.CSV", R"(# a comment
layer,expert,gpu
*,0,0
*,1,1
*,1,3
*,2,2
2, 0, 3
2,0,0
2,1,2
2,2,1
)");
  const Placement p = load_placement(path, 3, 3, 4);
  REQUIRE(p.replicas(0, 1) == Ids{1, 3});
  REQUIRE(p.replicas(1, 2) == Ids{2});
  REQUIRE(p.replicas(2, 0) == Ids{3, 0});
  REQUIRE(p.replicas(2, 2) == Ids{1});
}

TEST_CASE("placement io: broken TOML files name file, line and column", "[placement][io]") {
  const auto dir = moesim::test::scratch_dir("placement-io-bad-toml");
  const auto bad = [&](const std::string& text) {
    return load_placement(moesim::test::write_file(dir, "b.toml", text), 2, 3, 4);
  };
  const std::string head = "[[layer]]\ndefault = true\n";
  // GPU 4 is the 2nd value on line 3: column 16.
  REQUIRE_THROWS_WITH(
      bad(head + "experts = [[0], [4], [2]]\n"),
      Catch::Contains("b.toml:3:") && Catch::Contains("expert 1 is placed on GPU 4, but GPUs are 0..3"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [1, 1], [2]]\n"),
                      Catch::Contains("b.toml:3:") && Catch::Contains("lists GPU 1 twice"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [1]]\n"),
                      Catch::Contains("b.toml:3:") && Catch::Contains("lists 2 experts but the model has 3"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [], [2]]\n"),
                      Catch::Contains("b.toml:3:") && Catch::Contains("expert 1 has no GPU"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], 1, [2]]\n"),
                      Catch::Contains("b.toml:3:") && Catch::Contains("list of GPU ids"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [\"1\"], [2]]\n"), Catch::Contains("not an integer"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [1], [2]]\nexpert = 1\n"),
                      Catch::Contains("b.toml:4:1: unknown key \"layer[0].expert\""));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [1], [2]]\nlayers = 1\n"),
                      Catch::Contains("b.toml:4:1: unknown key \"layer[0].layers\""));
  REQUIRE_THROWS_WITH(
      bad("[[layer]]\nindex = 0\nexperts = [[0], [1], [2]]\n"),
      Catch::Contains("b.toml") && Catch::Contains("MoE layer 1 is not listed and there is no default"));
  REQUIRE_THROWS_WITH(bad("[[layer]]\nindex = 2\nexperts = [[0], [1], [2]]\n"),
                      Catch::Contains("b.toml:2:") && Catch::Contains("out of range [0, 1]"));
  REQUIRE_THROWS_WITH(
      bad("[[layer]]\nindex = 0\nexperts = [[0], [1], [2]]\n[[layer]]\nindex = 0\nexperts = [[0], [1], [2]]\n"),
      Catch::Contains("b.toml:5:") && Catch::Contains("listed twice"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [1], [2]]\n" + head + "experts = [[0], [1], [2]]\n"),
                      Catch::Contains("b.toml:5:") && Catch::Contains("second default"));
  REQUIRE_THROWS_WITH(bad(head + "index = 0\nexperts = [[0], [1], [2]]\n"),
                      Catch::Contains("b.toml:3:") && Catch::Contains("drop index"));
  REQUIRE_THROWS_WITH(bad("[[layer]]\nexperts = [[0], [1], [2]]\n"),
                      Catch::Contains("index") && Catch::Contains("required"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [1], [2]]\n" + "gpus = 8\n"), Catch::Contains("unknown key"));
  REQUIRE_THROWS_WITH(bad("gpus = 8\n" + head + "experts = [[0], [1], [2]]\n"),
                      Catch::Contains("b.toml:1:") && Catch::Contains("the file is for 8 GPUs but the run has 4"));
  REQUIRE_THROWS_WITH(bad("gpu = 4\n" + head + "experts = [[0], [1], [2]]\n"),
                      Catch::Contains("b.toml:1:1: unknown key \"gpu\""));
  REQUIRE_THROWS_WITH(bad(""), Catch::Contains("no [[layer]] tables"));
  REQUIRE_THROWS_WITH(bad(head + "experts = [[0], [1], [2]\n"), Catch::Contains("b.toml:"));
  REQUIRE_THROWS_AS(bad(head + "experts = 3\n"), InputError);
}

TEST_CASE("placement io: broken CSV files name file and line", "[placement][io]") {
  const auto dir = moesim::test::scratch_dir("placement-io-bad-csv");
  const auto bad = [&](const std::string& text) {
    return load_placement(moesim::test::write_file(dir, "b.csv", text), 2, 3, 4);
  };
  const std::string ok = "*,0,0\n*,1,1\n*,2,2\n";
  REQUIRE_NOTHROW(bad(ok));
  REQUIRE_THROWS_WITH(bad(ok + "1,2,4\n"), Catch::Contains("b.csv:4: gpu \"4\" is not an integer in 0..3"));
  REQUIRE_THROWS_WITH(bad(ok + "2,0,0\n"), Catch::Contains("b.csv:4: layer \"2\""));
  REQUIRE_THROWS_WITH(bad(ok + "x,0,0\n"), Catch::Contains("b.csv:4: layer \"x\""));
  REQUIRE_THROWS_WITH(bad(ok + "0,3,0\n"), Catch::Contains("b.csv:4: expert \"3\""));
  REQUIRE_THROWS_WITH(bad(ok + "0,1\n"), Catch::Contains("b.csv:4: expected 3 fields"));
  REQUIRE_THROWS_WITH(bad("layer,expert,gpu\n\n# c\n" + ok + "*,1,1\n"),
                      Catch::Contains("b.csv:7: expert 1 is placed on GPU 1 twice (first on line 5)"));
  REQUIRE_THROWS_WITH(bad(ok + "1,0,0\n1,2,1\n"),
                      Catch::Contains("b.csv:4: MoE layer 1 (rows from line 4) has no row for expert 1"));
  REQUIRE_THROWS_WITH(bad("*,0,0\n*,2,2\n"),
                      Catch::Contains("b.csv:1: the default layer *") && Catch::Contains("expert 1"));
  REQUIRE_THROWS_WITH(bad("0,0,0\n0,1,1\n0,2,2\n"), Catch::Contains("b.csv: MoE layer 1 is not listed"));
  REQUIRE_THROWS_WITH(bad("layer,gpu,expert\n" + ok), Catch::Contains("b.csv:1: the header must be layer,expert,gpu"));
  REQUIRE_THROWS_WITH(bad(""), Catch::Contains("MoE layers 0, 1 are not listed"));
  REQUIRE_THROWS_WITH(load_placement(moesim::test::write_file(dir, "b.json", ok), 2, 3, 4),
                      Catch::Contains("b.json: a placement file must end in .toml or .csv"));
  REQUIRE_THROWS_WITH(load_placement((dir / "missing.csv").string(), 2, 3, 4), Catch::Contains("cannot open"));
  REQUIRE_THROWS_AS(load_placement((dir / "missing.toml").string(), 2, 3, 4), InputError);
  REQUIRE_THROWS_AS(load_placement((dir / "b.csv").string(), 0, 3, 4), InputError);
}
