// The serving layer: continuous batching on one rank in closed form, end-to-end serving runs
// (TTFT / TPOT against the step engine, Little's law, KV admission and preemption, disaggregated
// KV transfers, reused routing, the run control) and bad serving input, on the
// tiny smoke model.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <atomic>
#include <cmath>
#include <string>
#include <vector>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "engine/simulation.hpp"
#include "engine/workload_batch.hpp"
#include "io/scenario_loader.hpp"
#include "moe/reused_gate.hpp"
#include "serve/rank_scheduler.hpp"
#include "serve/serving_simulation.hpp"
#include "smoke_fixture.hpp"
#include "test_util.hpp"

using namespace moesim;
using Catch::Contains;
namespace {

using Fixture = test::SmokeFixture;

std::vector<std::string> with(std::vector<std::string> base, const std::vector<std::string>& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

// Serving on the smoke model and its 8-GPU node: fixed lengths, a short window.
std::vector<std::string> serving_sets(const std::vector<std::string>& more = {}) {
  return with({"serving.prompt_len=200", "serving.output_len=20", "serving.duration_s=1"}, more);
}

// Drives one RankScheduler by hand: step k (from 1) plans, then finishes; records the step at
// which each request got its first token and finished, and checks the KV cache after each call.
struct HandDriven {
  RankScheduler rank;
  Rng rng{1};
  int step = 0;
  std::vector<int> first_token, finished;
  int preemptions = 0;
  RankScheduler::Events ev;
  HandDriven(const PoolSpec& pool, std::int64_t capacity, int requests)
      : rank(0, pool, capacity, RankScheduler::Mode::colocated, 0, 1.0),
        first_token(static_cast<std::size_t>(requests), -1),
        finished(static_cast<std::size_t>(requests), -1) {
    ev.first_token = [this](int r) { first_token[static_cast<std::size_t>(r)] = step; };
    ev.finished = [this](int r) { finished[static_cast<std::size_t>(r)] = step; };
    ev.preempted = [this](int) { ++preemptions; };
  }
  void enqueue(int record, int prompt, int output) {
    LiveRequest q;
    q.record = record;
    q.prompt = prompt;
    q.target = output;
    rank.enqueue(q);
  }
  void run_step() {
    ++step;
    rank.plan(ev);
    CHECK(rank.kv_used() <= rank.kv_capacity());
    rank.finish_step(rng, ev);
    CHECK(rank.kv_used() <= rank.kv_capacity());
  }
};

std::string azure_csv(int requests, double spacing_s, int prompt, int output) {
  std::string text = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  for (int i = 0; i < requests; ++i) {
    const double t = spacing_s * i;
    const int s = static_cast<int>(t);
    text += fmt::format("2023-11-16 18:{:02d}:{:02d}.{:07d},{},{}\n", s / 60, s % 60,
                        static_cast<int>(std::lround((t - s) * 1e7)), prompt, output);
  }
  return text;
}

}  // namespace

TEST_CASE("RankScheduler chunked prefill and decode steps in closed form", "[serving]") {
  SECTION("one request: prompt 100, chunk 64, 5 output tokens") {
    // Steps 1-2 prefill 64 + 36 tokens; step 2 produces the first token (TTFT 2 steps); steps 3-6
    // produce tokens 2..5 (TPOT (6 - 2) / (5 - 1) = 1 step). Each decode step writes its input
    // token's KV entry: 103 after step 5, 104 during step 6, then the request leaves.
    HandDriven h({0, 1, 8, 8192, 64}, 1'000'000, 1);
    h.enqueue(0, 100, 5);
    h.run_step();
    CHECK(h.rank.kv_used() == 64);
    h.run_step();
    CHECK(h.rank.kv_used() == 100);
    CHECK(h.first_token[0] == 2);
    while (h.rank.has_work() && h.step < 100) {
      if (h.step == 5) CHECK(h.rank.kv_used() == 103);
      h.run_step();
    }
    CHECK(h.finished[0] == 6);
    CHECK(h.rank.kv_used() == 0);
    CHECK(h.rank.kv_peak() == 104);
    CHECK(h.preemptions == 0);
  }
  SECTION("two requests sharing a token budget of 80") {
    // A (prompt 100, 5 out), B (prompt 50, 3 out), both queued before step 1.
    // Step 1: A 64 of its prompt, B the 16 tokens left. Step 2: A 36, B 34: both prompts in, first
    // tokens at step 2. A then decodes at 3..6 (finishes at 6), B at 3..4 (finishes at 4).
    HandDriven h({0, 1, 8, 80, 64}, 1'000'000, 2);
    h.enqueue(0, 100, 5);
    h.enqueue(1, 50, 3);
    h.run_step();
    CHECK(h.rank.kv_used() == 64 + 16);
    while (h.rank.has_work() && h.step < 100) h.run_step();
    CHECK(h.first_token == std::vector<int>{2, 2});
    CHECK(h.finished == std::vector<int>{6, 4});
  }
  SECTION("max_running 1 queues the second request") {
    // A as above finishes at step 6; B waits, is admitted at step 7 and prefills its 50 tokens at
    // once (first token at 7, TTFT 7 steps from its arrival before step 1), then decodes at 8, 9.
    HandDriven h({0, 1, 1, 8192, 64}, 1'000'000, 2);
    h.enqueue(0, 100, 5);
    h.enqueue(1, 50, 3);
    while (h.rank.has_work() && h.step < 100) {
      if (h.step >= 1 && h.step < 6) CHECK(h.rank.waiting() == 1);
      h.run_step();
    }
    CHECK(h.first_token == std::vector<int>{2, 7});
    CHECK(h.finished == std::vector<int>{6, 9});
  }
  SECTION("a request arriving mid-run joins the running batch") {
    // A from step 1 (first token 2, done at 6); C enqueued after step 3 with prompt 30, 2 out:
    // prefills at step 4 (first token 4) beside A's decode, its second token at 5.
    HandDriven h({0, 1, 8, 8192, 64}, 1'000'000, 2);
    h.enqueue(0, 100, 5);
    for (int i = 0; i < 3; ++i) h.run_step();
    h.enqueue(1, 30, 2);
    h.run_step();
    CHECK(h.rank.step_tokens() == 1 + 30);
    while (h.rank.has_work() && h.step < 100) h.run_step();
    CHECK(h.first_token == std::vector<int>{2, 4});
    CHECK(h.finished == std::vector<int>{6, 5});
  }
}

TEST_CASE("Serving a lone request takes one prefill step to the first token and a decode step per token", "[serving]") {
  // Three requests 5 s apart (prompt 100, 5 output tokens), each alone on the node: TTFT is the
  // prefill step, TPOT the decode step of one sequence over ~100 cached tokens.
  const auto dir = test::scratch_dir("serving-lone");
  const std::string csv = test::write_file(dir, "lone.csv", azure_csv(3, 5.0, 100, 5));
  const Fixture f(serving_sets(
      {"serving.arrival=trace", "serving.trace=\"" + csv + "\"", "serving.duration_s=20", "serving.memo_tolerance=0"}));
  const ScenarioRun run = run_scenario(f.scenario);
  REQUIRE(run.serving);
  const ServingResults& s = *run.serving;
  REQUIRE(s.requests.size() == 3);
  // memo_tolerance 0: every step simulated in full and kept in order; 1 prefill + 4 decodes each.
  REQUIRE(run.results.steps.size() == 15);
  for (std::size_t i = 0; i < s.requests.size(); ++i) {
    const RequestRecord& r = s.requests[i];
    REQUIRE(r.done());
    const StepResult& prefill = run.results.steps[i * 5];
    const double ttft = static_cast<double>(r.first_token_ps - r.arrival_ps);
    CHECK(ttft >= static_cast<double>(prefill.step_ps()));
    CHECK(ttft == Approx(static_cast<double>(prefill.step_ps())).epsilon(0.01));
    TimePs decode_sum = 0;
    for (std::size_t k = 1; k < 5; ++k) decode_sum += run.results.steps[i * 5 + k].step_ps();
    const double tpot = static_cast<double>(r.finish_ps - r.first_token_ps) / (r.output_tokens - 1);
    CHECK(tpot == Approx(static_cast<double>(decode_sum) / 4).epsilon(0.01));
  }
  // The same decode batch through a fresh engine: request 0 alone on its GPU, 1 token over the
  // prompt and the first two tokens' KV (102), within 1% of the served TPOT.
  const RequestRecord& r0 = s.requests[0];
  Simulation sim(f.scenario, f.topology, f.profile);
  StepBatch batch;
  batch.ranks.assign(static_cast<std::size_t>(f.topology.gpu_count()), {});
  batch.ranks[static_cast<std::size_t>(r0.rank)].push_back({1, 102, false});
  sim.set_batch(batch);
  TimePs fresh = 0;
  for (int k = 0; k < 4; ++k) fresh += sim.run_one_step();
  const double tpot0 = static_cast<double>(r0.finish_ps - r0.first_token_ps) / 4;
  CHECK(tpot0 == Approx(static_cast<double>(fresh) / 4).epsilon(0.01));
}

TEST_CASE("Closed-loop serving with one user serves requests back to back", "[serving]") {
  // One user, no think time: each request arrives when the previous finishes, so each is alone
  // and TTFT is one prefill step (prompt 200 < prefill_chunk 2048).
  const Fixture f(serving_sets({"serving.arrival=closed_loop", "serving.users=1", "serving.duration_s=0.01"}));
  const ScenarioRun run = run_scenario(f.scenario);
  REQUIRE(run.serving);
  const auto& reqs = run.serving->requests;
  REQUIRE(reqs.size() >= 2);
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    REQUIRE(reqs[i].done());
    if (i > 0) CHECK(reqs[i].arrival_ps == reqs[i - 1].finish_ps);
    CHECK(reqs[i].first_token_ps > reqs[i].arrival_ps);
  }
  CHECK(run.summary.serving.completed == static_cast<std::int64_t>(reqs.size()));
}

// ---- 4. Little's law ---------------------------------------------------------------------------

TEST_CASE("Poisson serving obeys Little's law over the makespan", "[serving]") {
  // mean_in_system = sum of e2e / makespan; request_rate = completed / makespan; e2e_mean = sum of
  // e2e / completed: L = lambda x W over the same makespan (every request completes).
  const Fixture f(serving_sets({"serving.rate_per_s=40"}));
  const ScenarioRun run = run_scenario(f.scenario);
  const ServingSummary& s = run.summary.serving;
  REQUIRE(s.completed > 20);
  CHECK(s.completed == s.requests);
  CHECK(s.mean_in_system == Approx(s.request_rate_per_s * s.e2e_s_mean).epsilon(0.02));
  CHECK(s.mean_in_system > 0);
}

// ---- 5. KV admission ---------------------------------------------------------------------------

TEST_CASE("RankScheduler never holds more KV than its capacity and preempts to make room", "[serving]") {
  // Capacity 1000; requests of 400 + 400: two admitted (400 + 1 each fits), their decodes grow to
  // 2 x 800 > 1000 so the later one is preempted and recomputed; all four finish.
  HandDriven h({0, 1, 8, 8192, 2048}, 1000, 4);
  for (int i = 0; i < 4; ++i) h.enqueue(i, 400, 400);
  std::int64_t peak = 0;
  while (h.rank.has_work() && h.step < 100'000) {
    h.run_step();
    peak = std::max(peak, h.rank.kv_used());
  }
  CHECK(h.preemptions > 0);
  for (int i = 0; i < 4; ++i) CHECK(h.finished[static_cast<std::size_t>(i)] > 0);
  CHECK(peak <= 1000);
  CHECK(h.rank.kv_peak() <= 1000);
  CHECK(h.rank.kv_used() == 0);
}

TEST_CASE("Serving with a small KV cache queues and preempts but completes", "[serving]") {
  // 64x the smoke model's KV per token and 1% of the HBM: a few hundred tokens per rank. Two users
  // per rank with prompt 300 + output 300 each: both admitted, then their decodes outgrow the cache.
  const std::vector<std::string> sets = {"model.kv_bytes_per_token=262144", "serving.kv_memory_fraction=0.01",
                                         "serving.arrival=closed_loop",     "serving.users=16",
                                         "serving.max_requests=16",         "serving.prompt_len=300",
                                         "serving.output_len=300",          "serving.duration_s=1"};
  const Fixture f(sets);
  const ScenarioRun run = run_scenario(f.scenario);
  REQUIRE(run.serving);
  const PoolResult& pool = run.serving->pools.at(0);
  INFO("kv_capacity_tokens " << pool.kv_capacity_tokens);
  REQUIRE(pool.kv_capacity_tokens >= 601);  // one request fits whole
  REQUIRE(pool.kv_capacity_tokens < 1200);  // two do not
  CHECK(run.summary.serving.completed == 16);
  CHECK(run.summary.serving.rejected == 0);
  CHECK(run.serving->preemptions > 0);
  CHECK(pool.kv_peak_tokens <= pool.kv_capacity_tokens);
  CHECK(run.summary.serving.kv_peak_fraction <= 1.0);
}

// ---- 6. disaggregation -------------------------------------------------------------------------

TEST_CASE("Disaggregated serving moves each prompt's KV cache of every layer", "[serving]") {
  const Fixture f(
      serving_sets({"hardware.topology=\"" + test::source_path("topologies/hgx-h100-x4-ib.toml") + "\"",
                    "parallelism.ep=8", "serving.disaggregated=true", "serving.prefill_ep=8", "serving.rate_per_s=30",
                    "serving.prompt_dist=uniform", "serving.prompt_min=50", "serving.prompt_max=400"}));
  const ScenarioRun run = run_scenario(f.scenario);
  REQUIRE(run.serving);
  const ServingResults& s = *run.serving;
  REQUIRE(s.pools.size() == 2);
  CHECK(s.pools[1].first_gpu == 8);
  // bytes = sum over requests of prompt tokens x kv_bytes_per_token x layers (4096 x 4).
  double expected = 0;
  std::int64_t n = 0;
  for (const RequestRecord& r : s.requests) {
    REQUIRE(r.done());
    CHECK(r.prefill_rank < 8);
    CHECK(r.rank >= 8);
    expected += static_cast<double>(r.prompt_tokens) * f.scenario.model.kv_bytes_per_token * f.scenario.model.layers;
    ++n;
  }
  REQUIRE(n > 10);
  CHECK(s.kv_transfers == n);
  CHECK(s.kv_transfer_bytes.count() == Approx(expected).epsilon(1e-12));
  // Each pool's all-to-all stays on its node's NVLink, the KV flows cross the NICs: no contention.
  CHECK(s.kv_share_sum == Approx(static_cast<double>(n)));
  CHECK(s.pools[0].kv_contention_ps == 0);
  CHECK(s.pools[1].kv_contention_ps == 0);
}

TEST_CASE("Disaggregated pools sharing links: KV flows and the decode all-to-all slow each other", "[serving]") {
  // One 8-GPU node: prefill on GPUs 0..3, decode on 4..7; a KV flow enters its decode GPU over the
  // NVLink port the decode all-to-all uses.
  const auto run_with = [](const std::string& rate) {
    const Fixture f(serving_sets({"parallelism.ep=4", "serving.disaggregated=true", "serving.prefill_ep=4",
                                  "serving.rate_per_s=" + rate, "serving.prompt_len=2000", "serving.output_len=50"}));
    return *run_scenario(f.scenario).serving;
  };
  const ServingResults busy = run_with("200");
  REQUIRE(busy.kv_transfers > 20);
  CHECK(busy.pools[1].first_gpu == 4);
  CHECK(busy.kv_share_sum < 0.999 * static_cast<double>(busy.kv_transfers));
  CHECK(busy.pools[1].kv_contention_ps > 0);
  CHECK(busy.pools[1].kv_contention_ps < busy.pools[1].busy_ps / 2);
  // Less traffic, less contention.
  const ServingResults light = run_with("20");
  const auto stretch = [](const ServingResults& r) {
    return static_cast<double>(r.pools[1].kv_contention_ps) / static_cast<double>(r.pools[1].busy_ps);
  };
  CHECK(stretch(light) < stretch(busy));
}

// ---- 8. bad input ------------------------------------------------------------------------------

TEST_CASE("Bad serving input is an InputError naming the key or file and line", "[serving]") {
  SECTION("trace arrivals without a trace") {
    REQUIRE_THROWS_AS(Fixture(serving_sets({"serving.arrival=trace"})), InputError);
    CHECK_THROWS_WITH(Fixture(serving_sets({"serving.arrival=trace"})),
                      Contains("arrival") && Contains("serving.trace"));
  }
  SECTION("malformed trace CSV") {
    const auto dir = test::scratch_dir("serving-bad-trace");
    const std::string csv = test::write_file(
        dir, "bad.csv",
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,10,5\n2023-11-16 18:15:47,ten,5\n");
    const Fixture f(serving_sets({"serving.arrival=trace", "serving.trace=\"" + csv + "\""}));
    REQUIRE_THROWS_AS(run_scenario(f.scenario), InputError);
    CHECK_THROWS_WITH(run_scenario(f.scenario), Contains("bad.csv:3"));
  }
  SECTION("more GPUs than the topology") {
    const Fixture f(serving_sets({"serving.replicas=2"}));
    REQUIRE_THROWS_AS(run_scenario(f.scenario), InputError);
    CHECK_THROWS_WITH(run_scenario(f.scenario), Contains("16 GPUs") && Contains("8"));
  }
  SECTION("disaggregated pools beyond the topology") {
    const Fixture f(serving_sets({"serving.disaggregated=true"}));
    CHECK_THROWS_AS(run_scenario(f.scenario), InputError);
  }
}

TEST_CASE("Reused routing: one draw per layer, consecutive slices per rank, the same every step", "[serving][gate]") {
  GateSpec spec;
  spec.kind = GateModel::lognormal;
  spec.lognormal_sigma = 1.0;
  spec.layer_variation = true;
  const int experts = 64, top_k = 4, layers = 3;
  ReusedGate gate(make_synthetic_gate(spec, experts, top_k, layers, 11), false);
  auto direct = make_synthetic_gate(spec, experts, top_k, layers, 11);
  // Ranks 0, 1, 2 with 5, 0 and 7 tokens take picks [0, 5), [5, 5) and [5, 12) of the layer's
  // step-0 draw of rank 0: exactly what a direct 12-token draw gives.
  std::vector<int> all, a, b, c;
  direct->assign(0, 1, 0, 12, all);
  for (int step : {0, 9}) {  // later steps reuse the same draw
    gate.assign(step, 1, 0, 5, a);
    gate.assign(step, 1, 1, 0, b);
    gate.assign(step, 1, 2, 7, c);
    REQUIRE(a == std::vector<int>(all.begin(), all.begin() + 5 * top_k));
    REQUIRE(b.empty());
    REQUIRE(c == std::vector<int>(all.begin() + 5 * top_k, all.end()));
  }
  // A bigger step grows the draw without changing the picks handed out before.
  // A step whose first rank asks nothing (a down GPU) still starts at the beginning.
  gate.assign(4, 1, 2, 5, c);
  REQUIRE(c == std::vector<int>(all.begin(), all.begin() + 5 * top_k));
  std::vector<int> big, more;
  gate.assign(1, 1, 0, 300, big);
  direct->assign(0, 1, 0, 300, more);
  REQUIRE(big == more);
  // Per-rank draws (rank locality): each rank keeps its own stream.
  spec.rank_locality = 0.5;
  ReusedGate local(make_synthetic_gate(spec, experts, top_k, layers, 11, 4), true);
  auto local_direct = make_synthetic_gate(spec, experts, top_k, layers, 11, 4);
  std::vector<int> x, y;
  local.assign(5, 2, 3, 9, x);
  local_direct->assign(0, 2, 3, 9, y);
  REQUIRE(x == y);
}

TEST_CASE("A serving run stops at its deadline and on an interrupt, with nothing to write", "[serving]") {
  const Fixture f(serving_sets({"serving.duration_s=30", "serving.rate_per_s=40"}));
  RunControl control;
  control.deadline = RunControl::Clock::now();  // already past: stops at the first look
  const ScenarioRun run = run_scenario(f.scenario, {}, &control);
  REQUIRE(run.serving);
  CHECK(run.serving->stopped == RunStop::timeout);
  CHECK(run.results.stopped == RunStop::timeout);
  CHECK_THROWS_AS(write_run(run, test::scratch_dir("serving-timeout").string()), Error);
  std::atomic<bool> stop{true};
  RunControl interrupt;
  interrupt.interrupt = &stop;
  const ScenarioRun cut = run_scenario(f.scenario, {}, &interrupt);
  CHECK(cut.results.stopped == RunStop::interrupted);
}
