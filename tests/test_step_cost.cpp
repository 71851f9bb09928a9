// The serving layer's step-cost memo: answers within a bucket, new shapes interpolated between
// simulated neighbours, the sampled check, and tolerance 0 (every step in full), on the smoke model.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "app/scenario_run.hpp"
#include "serve/step_cost.hpp"
#include "smoke_fixture.hpp"

using namespace moesim;

namespace {

using Fixture = test::SmokeFixture;

// Every rank runs `seqs` decode sequences with `context` tokens cached.
void uniform_decode(StepBatch& b, int seqs, int context) {
  for (RankBatch& r : b.ranks) r.assign(static_cast<std::size_t>(seqs), SeqChunk{1, context, false});
}

StepShape shape_of(const StepCostModel& m, int seqs, int context) {
  StepBatch b;
  b.ranks.assign(static_cast<std::size_t>(m.ranks()), {});
  uniform_decode(b, seqs, context);
  StepShape s;
  for (const RankBatch& r : b.ranks) {
    s.tokens += batch_tokens(r);
    s.max_rank_tokens = std::max(s.max_rank_tokens, static_cast<int>(batch_tokens(r)));
    s.max_rank_ps = std::max(s.max_rank_ps, m.rank_ps(attention_work(r)));
  }
  return s;
}

std::vector<std::string> serving_sets(const std::vector<std::string>& more = {}) {
  std::vector<std::string> s = {"serving.prompt_len=200", "serving.output_len=20", "serving.duration_s=1"};
  s.insert(s.end(), more.begin(), more.end());
  return s;
}

}  // namespace

TEST_CASE("Step-cost memo: a rank's tokens cost their send, probed in full", "[serving]") {
  const Fixture f;
  const StepCostModel m(f.scenario, f.topology, f.profile, 0, 0.07, 0, nullptr);
  AttentionWork one, many;
  one.add(SeqChunk{1, 0, true});
  many.add(SeqChunk{512, 0, true});
  // Beyond its compute, a rank's 511 more tokens take longer to send and come back.
  const TimePs extra = m.rank_ps(many) - m.rank_ps(one);
  CHECK(extra > m.simulation().pre_dispatch_ps(many) - m.simulation().pre_dispatch_ps(one));
  CHECK(m.result().simulated == 0);  // the probes are not part of a run
}

TEST_CASE("Step-cost memo: new shapes between simulated ones are interpolated, close to full simulation",
          "[serving]") {
  const Fixture f;
  StepCostModel memo(f.scenario, f.topology, f.profile, 0, 0.07, 0, nullptr);
  StepCostModel full(f.scenario, f.topology, f.profile, 0, 0, 0, nullptr);
  // A coarse grid of decode batches simulated in full (each a new bucket)...
  for (int seqs = 8; seqs <= 64; seqs += std::max(1, seqs / 10))
    for (int ctx = 256; ctx <= 4096; ctx = ctx * 11 / 10)
      memo.step_ps(shape_of(memo, seqs, ctx), [&](StepBatch& b) { uniform_decode(b, seqs, ctx); });
  const MemoResult grid = memo.result();
  REQUIRE(grid.simulated > 40);
  // ...then shapes in between: answered from the grid's plane or buckets, within 2% of the engine.
  double worst = 0;
  for (int seqs = 13; seqs <= 48; seqs += 7) {
    for (int ctx = 400; ctx <= 3000; ctx += 333) {
      const auto fill = [&](StepBatch& b) { uniform_decode(b, seqs, ctx); };
      const double memo_ps = static_cast<double>(memo.step_ps(shape_of(memo, seqs, ctx), fill));
      const double exact_ps = static_cast<double>(full.step_ps(shape_of(full, seqs, ctx), fill));
      worst = std::max(worst, std::abs(memo_ps / exact_ps - 1));
    }
  }
  CHECK(memo.result().interpolated > grid.interpolated);
  CHECK(memo.result().simulated - grid.simulated < 8);  // a few shapes at the grid's edge at most
  CHECK(worst < 0.02);
}

TEST_CASE("Step-cost memo error is small and memo_tolerance 0 simulates every step", "[serving]") {
  SECTION("tolerance 0.02, 32 samples") {
    const Fixture f(serving_sets({"serving.memo_tolerance=0.02", "serving.check_samples=32", "serving.rate_per_s=40"}));
    const ScenarioRun run = run_scenario(f.scenario);
    const MemoResult& m = run.serving->memo.at(0);
    CHECK(m.simulated < m.lookups);
    REQUIRE(!m.check_error.empty());
    CHECK(m.check_error.size() <= 32);
    for (double e : m.check_error) CHECK(std::abs(e) < 0.05);
  }
  SECTION("tolerance 0") {
    const Fixture f(serving_sets({"serving.memo_tolerance=0", "serving.rate_per_s=40"}));
    const ScenarioRun run = run_scenario(f.scenario);
    const MemoResult& m = run.serving->memo.at(0);
    CHECK(m.lookups > 0);
    CHECK(m.simulated == m.lookups);
    CHECK(m.interpolated == 0);
    CHECK(m.check_error.empty());
  }
}
