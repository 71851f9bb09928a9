// Determinism: the same scenario and seed give byte-identical result files, run after run and
// however many simulations run at once on other threads (as `moesim sweep --jobs N` does).
#include <catch2/catch.hpp>

#include <exception>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "app/scenario_run.hpp"
#include "io/scenario_loader.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

using Files = std::map<std::string, std::string>;  // file name -> bytes

Files run_and_read(const Scenario& s, const std::filesystem::path& dir) {
  write_run(run_scenario(s), dir.string());
  Files files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::ifstream in(entry.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    files[entry.path().filename().string()] = bytes.str();
  }
  return files;
}

}  // namespace

TEST_CASE("the same scenario and seed give byte-identical outputs, alone or beside other threads", "[determinism]") {
  const auto root = test::scratch_dir("determinism");
  for (const char* model : {"flow", "analytic"}) {
    // Skewed routing, a load-aware placement re-balanced during the run, two micro-batches: the
    // paths where ordering could leak into results.
    const Scenario s = io::load_scenario(
        test::source_path("scenarios/smoke.toml"),
        {std::string("network.model=") + model, "gate.kind=zipf", "gate.zipf_exponent=1.1", "workload.steps=4",
         "placement.kind=greedy", "placement.rebalance_every_steps=2", "overlap.mode=two_microbatch"});
    const Files first = run_and_read(s, root / (std::string(model) + "-first"));
    REQUIRE(first.size() >= 7);
    REQUIRE(run_and_read(s, root / (std::string(model) + "-again")) == first);
    for (int threads : {2, 4}) {
      std::vector<Files> got(static_cast<std::size_t>(threads));
      std::vector<std::string> errors(static_cast<std::size_t>(threads));
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
          const auto i = static_cast<std::size_t>(t);
          try {
            got[i] =
                run_and_read(s, root / (std::string(model) + "-t" + std::to_string(threads) + "-" + std::to_string(t)));
          } catch (const std::exception& e) {
            errors[i] = e.what();
          }
        });
      for (std::thread& th : pool) th.join();
      for (std::size_t t = 0; t < got.size(); ++t) {
        INFO(model << " on " << threads << " threads, thread " << t);
        REQUIRE(errors[t].empty());
        REQUIRE(got[t] == first);
      }
    }
  }
  std::filesystem::remove_all(root);
}
