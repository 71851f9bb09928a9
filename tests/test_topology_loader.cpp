// Broken topology files: each fails with an InputError that names the file and the right line.
#include <catch2/catch.hpp>

#include "io/topology_loader.hpp"
#include "test_util.hpp"

namespace {

const char* kGoodGenerator = R"(name = "t"
[generator]
kind = "hgx"
nodes = 2
gpus_per_node = 4
nvlink_GBps = 450
[generator.scaleout]
nic_Gbps = 400
)";

const char* kGoodExplicit = R"(name = "e"
[[node]]
name = "g0"
kind = "gpu"
host = 0
domain = 0
[[node]]
name = "g1"
kind = "gpu"
host = 0
domain = 0
[[node]]
name = "sw"
kind = "switch"
[[link]]
a = "g0"
b = "sw"
bandwidth_GBps = 50
latency_ns = 500
class = "pcie"
[[link]]
a = "g1"
b = "sw"
bandwidth_GBps = 50
latency_ns = 500
class = "pcie"
)";

// Loads `text` as `name` and returns the InputError's message ("" when it loads).
std::string load_error(const std::string& name, const std::string& text) {
  const auto dir = moesim::test::scratch_dir("topology-loader");
  const std::string path = moesim::test::write_file(dir, name, text);
  try {
    moesim::io::load_topology(path);
  } catch (const moesim::InputError& e) {
    return e.what();
  }
  return "";
}

// The message names `name` at `line` (any column) and contains `what`.
void require_error(const std::string& name, const std::string& text, int line, const std::string& what) {
  const std::string msg = load_error(name, text);
  INFO(msg);
  REQUIRE(msg.find(name + ":" + std::to_string(line) + ":") != std::string::npos);
  REQUIRE(msg.find(what) != std::string::npos);
}

}  // namespace

TEST_CASE("good topology files load") {
  REQUIRE(load_error("good-gen.toml", kGoodGenerator).empty());
  REQUIRE(load_error("good-explicit.toml", kGoodExplicit).empty());
  const auto dir = moesim::test::scratch_dir("topology-loader-good");
  auto t = moesim::io::load_topology(moesim::test::write_file(dir, "x.toml", kGoodExplicit));
  REQUIRE(t.gpu_count() == 2);
  REQUIRE(t.paths(0, 1).at(0).size() == 2);
  REQUIRE(t.link(t.paths(0, 1)[0][0]).bandwidth.GBps() == 50);
}

TEST_CASE("unknown key names file, line and key") {
  std::string text = kGoodGenerator;
  text.insert(text.find("[generator.scaleout]"), "nvlink_latency = 300\n");  // line 7, misspelt
  require_error("typo.toml", text, 7, "unknown key \"generator.nvlink_latency\"");
  require_error("top.toml", std::string("colour = 1\n") + kGoodGenerator, 1, "unknown key \"colour\"");
}

TEST_CASE("bad value type") {
  std::string text = kGoodGenerator;
  text.replace(text.find("nodes = 2"), 9, "nodes = \"two\"");  // line 4
  require_error("type.toml", text, 4, "expected an integer");
}

TEST_CASE("out-of-range values") {
  std::string text = kGoodGenerator;
  text.replace(text.find("nvlink_GBps = 450"), 17, "nvlink_GBps = -450");  // line 6
  require_error("range.toml", text, 6, "out of range");
  text = kGoodGenerator;
  text.replace(text.find("nvlink_GBps = 450"), 17, "nvlink_GBps = 0");
  require_error("zero.toml", text, 6, "out of range [0.001,");
  require_error("oversub.toml", std::string(kGoodGenerator) + "oversubscription = 0.5\n", 9, "oversubscription");
  std::string ex = kGoodExplicit;
  ex.replace(ex.find("bandwidth_GBps = 50"), 19, "bandwidth_GBps = 0");  // line 18
  require_error("bw.toml", ex, 18, "out of range");
}

TEST_CASE("unknown node in a link") {
  std::string text = kGoodExplicit;
  text.replace(text.find("b = \"sw\""), 8, "b = \"sw9\"");  // line 17
  require_error("node.toml", text, 17, "unknown node \"sw9\"");
}

TEST_CASE("duplicate node name") {
  std::string text = kGoodExplicit;
  text.replace(text.find("name = \"g1\""), 11, "name = \"g0\"");  // line 8
  require_error("dup.toml", text, 8, "duplicate node name \"g0\"");
}

TEST_CASE("no GPUs") {
  const std::string text = "name = \"x\"\n\n[[node]]\nname = \"sw\"\nkind = \"switch\"\n";
  require_error("nogpu.toml", text, 3, "no node has kind = \"gpu\"");
}

TEST_CASE("unreachable GPU points at its node entry") {
  // g2 (inserted as lines 12-16) has no link.
  std::string text = kGoodExplicit;
  text.insert(text.find("[[node]]\nname = \"sw\""), "[[node]]\nname = \"g2\"\nkind = \"gpu\"\nhost = 1\ndomain = 1\n");
  require_error("cut.toml", text, 12, "cannot reach");
  REQUIRE(load_error("cut.toml", text).find("'g2'") != std::string::npos);
}

TEST_CASE("malformed TOML") {
  std::string text = kGoodGenerator;
  text.replace(text.find("nodes = 2"), 9, "nodes = = 2");  // line 4
  require_error("syntax.toml", text, 4, "");
}

TEST_CASE("structural mistakes") {
  require_error("both.toml",
                std::string(kGoodGenerator) + "[[node]]\nname = \"g\"\nkind = \"gpu\"\nhost = 0\ndomain = 0\n", 9,
                "not both");
  REQUIRE(load_error("neither.toml", "name = \"x\"\n").find("no topology") != std::string::npos);
  std::string text = kGoodGenerator;
  text.replace(text.find("[generator.scaleout]\nnic_Gbps = 400\n"), 36, "");
  require_error("noscale.toml", text, 2, "scaleout");
  require_error("kind.toml", "[generator]\nkind = \"torus\"\n", 2, "unknown value \"torus\"");
  require_error("rail.toml",
                "[generator]\nkind = \"nvl_rack\"\nracks = 1\ngpus_per_rack = 8\ngpus_per_tray = 4\nnvlink_GBps = 900\n"
                "[generator.scaleout]\nnic_Gbps = 400\nrail_optimized = false\n",
                9, "applies only");
  require_error("tray.toml",
                "[generator]\nkind = \"nvl_rack\"\nracks = 1\ngpus_per_rack = 8\ngpus_per_tray = 3\nnvlink_GBps = 900\n"
                "[generator.scaleout]\nnic_Gbps = 400\n",
                5, "multiple of gpus_per_tray");
  std::string ex = kGoodExplicit;
  ex.replace(ex.find("kind = \"switch\""), 15, "kind = \"switch\"\nhost = 3");  // line 15
  require_error("host.toml", ex, 15, "applies only to nodes of kind");
  ex = kGoodExplicit;
  ex.replace(ex.find("b = \"sw\""), 8, "b = \"g0\"");  // line 17
  require_error("self.toml", ex, 17, "two different nodes");
  require_error("big.toml",
                "[generator]\nkind = \"hgx\"\nnodes = 1024\ngpus_per_node = 8\nnvlink_GBps = 450\n"
                "[generator.scaleout]\nnic_Gbps = 400\n",
                3, "at most 4096");
  require_error("big-ecmp.toml",
                "routing = \"ecmp\"\n[generator]\nkind = \"hgx\"\nnodes = 150\ngpus_per_node = 8\nnvlink_GBps = 450\n"
                "[generator.scaleout]\nnic_Gbps = 400\n",
                2, "use routing = \"dmodk\"");
  require_error("routing.toml",
                "routing = \"hash\"\n[generator]\nkind = \"hgx\"\nnodes = 1\ngpus_per_node = 8\nnvlink_GBps = 450\n", 1,
                "ecmp");
}

TEST_CASE("a second link between the same nodes is an error at the second") {
  std::string text = kGoodExplicit;
  text.replace(text.find("a = \"g1\""), 8, "a = \"g0\"");  // line 22: g0 - sw again
  require_error("duplink.toml", text, 22, "duplicate link g0 -> sw (first defined at ");
  REQUIRE(load_error("duplink.toml", text).find("duplink.toml:15:") != std::string::npos);
}
