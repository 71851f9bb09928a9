// Step batches made of sequences: the attention cost of batch compositions (N prompts against one
// prompt of N x L) and micro-batch splits that keep a step's attention work, on the tiny smoke
// model.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "app/scenario_run.hpp"
#include "engine/simulation.hpp"
#include "gpu/compute_model.hpp"
#include "io/scenario_loader.hpp"
#include "smoke_fixture.hpp"
#include "test_util.hpp"

using namespace moesim;
namespace {

using Fixture = test::SmokeFixture;
constexpr auto kAttention = static_cast<std::size_t>(Phase::attention);

// A prefill step of the smoke scenario: tokens_per_gpu prompt tokens per GPU, one step.
std::vector<std::string> prefill_sets(int tokens_per_gpu, int prompt_len, const char* overlap = "none") {
  return {"workload.phase=prefill", "workload.tokens_per_gpu=" + std::to_string(tokens_per_gpu),
          "workload.prompt_len=" + std::to_string(prompt_len), "workload.steps=1",
          std::string("overlap.mode=") + overlap};
}

TimePs attention_busy(const Results& r, int gpu) { return r.gpus[static_cast<std::size_t>(gpu)].busy_ps[kAttention]; }

double pairs_prefill(double n) { return n * (n + 1) / 2; }  // a prompt of n tokens over no context

}  // namespace

// ---- 1. prefill of N prompts -------------------------------------------------------------------

TEST_CASE("Prefill of N prompts costs N prompts of core attention not one of N x L", "[serving][batch]") {
  const Fixture f;
  const ComputeModel cm(f.profile, f.scenario.model);
  constexpr int kN = 8, kL = 512;
  RankBatch prompts(kN, SeqChunk{kL, 0, true});
  const AttentionWork many = attention_work(prompts);
  const AttentionWork one = attention_work({SeqChunk{kN * kL, 0, true}});
  // Each prompt: L(L+1)/2 = 512 x 513 / 2 = 131,328 pairs; 8 of them 1,050,624. One prompt of
  // 4096: 4096 x 4097 / 2 = 8,390,656 pairs, N = 8 times as many (less the diagonal's share).
  CHECK(many.prefill_pairs == kN * pairs_prefill(kL));
  CHECK(many.prefill_pairs == 1'050'624.0);
  CHECK(one.prefill_pairs == 8'390'656.0);
  CHECK(many.decode_pairs == 0);
  // Same new tokens and KV entries written (no context read) either way.
  CHECK(many.tokens == one.tokens);
  CHECK(many.kv_tokens == one.kv_tokens);
  // Core-attention FLOPs: flops_per_ctx x pairs, so N x one prompt of L.
  const double per_ctx = f.scenario.model.prefill_attn_flops_per_ctx();
  CHECK(per_ctx * many.prefill_pairs == Approx(kN * per_ctx * pairs_prefill(kL)));
  CHECK(cm.attention_ps(many) < cm.attention_ps(one));
  // The single-sequence entry point is the one prompt.
  CHECK(cm.attention_ps(kN * kL, WorkloadPhase::prefill, 0) == cm.attention_ps(one));
}

TEST_CASE("Prefill step with prompt_len below tokens_per_gpu has less attention busy time", "[serving][batch]") {
  constexpr int kN = 8, kL = 512;
  const Fixture short_prompts(prefill_sets(kN * kL, kL));
  const Fixture one_prompt(prefill_sets(kN * kL, 0));
  const Results a = short_prompts.run(), b = one_prompt.run();
  const ComputeModel cm(short_prompts.profile, short_prompts.scenario.model);
  const int layers = short_prompts.scenario.model.layers;
  // Per GPU, one step: layers x attention of 8 prompts of 512 (resp. one prompt of 4096).
  const TimePs many_ps = cm.attention_ps(attention_work(RankBatch(kN, SeqChunk{kL, 0, true})));
  const TimePs one_ps = cm.attention_ps(attention_work({SeqChunk{kN * kL, 0, true}}));
  REQUIRE(a.gpus.size() == b.gpus.size());
  for (int g = 0; g < static_cast<int>(a.gpus.size()); ++g) {
    CHECK(attention_busy(a, g) == layers * many_ps);
    CHECK(attention_busy(b, g) == layers * one_ps);
    CHECK(attention_busy(a, g) < attention_busy(b, g));
  }
}

// ---- 2. micro-batches --------------------------------------------------------------------------

TEST_CASE("split_microbatches keeps tokens and attention pairs of the whole", "[serving][batch]") {
  const auto check_split = [](const RankBatch& whole, double extra_kv) {
    const std::vector<RankBatch> parts = split_microbatches(whole, 2);
    REQUIRE(parts.size() == 2);
    const AttentionWork w = attention_work(whole);
    const AttentionWork p0 = attention_work(parts[0]), p1 = attention_work(parts[1]);
    CHECK(batch_tokens(parts[0]) == (batch_tokens(whole) + 1) / 2);
    CHECK(p0.tokens + p1.tokens == w.tokens);
    CHECK(p0.decode_pairs + p1.decode_pairs == w.decode_pairs);
    CHECK(p0.prefill_pairs + p1.prefill_pairs == w.prefill_pairs);
    // The second part of a cut chunk reads its whole context again (the chunk's original context
    // and the first part's new entries, now in HBM): the one place where the parts' KV traffic
    // exceeds the whole's.
    CHECK(p0.kv_tokens + p1.kv_tokens == w.kv_tokens + extra_kv);
  };
  SECTION("one long prompt") {
    // 4097 tokens: 2049 | 2048 over a context of 2049. Pairs 2049 x 2050 / 2 + (2048 x 2049 +
    // 2048 x 2049 / 2) = 2,100,225 + 6,294,528 = 8,394,753 = 4097 x 4098 / 2; KV read again: 2049.
    const RankBatch whole{SeqChunk{4097, 0, true}};
    check_split(whole, 2049);
    CHECK(attention_work(whole).prefill_pairs == 8'394'753.0);
  }
  SECTION("mixed decode and prefill chunks") {
    // 3 decodes (1 + 2 drafts = 3 tokens) over 1000..3000, a 700-token chunk over 300, 5 decodes
    // of 1 over 50: 9 + 700 + 5 = 714 tokens, first half 357 = 9 + 348 of the chunk; the second
    // half's chunk of 352 has context 300 + 348 = 648, all read again (the first half read the
    // 300): KV entries 7,264 as a whole, 7,264 + 648 split.
    RankBatch whole{{3, 1000, false}, {3, 2000, false}, {3, 3000, false}, {700, 300, true}};
    for (int i = 0; i < 5; ++i) whole.push_back({1, 50, false});
    check_split(whole, 648);
    CHECK(attention_work(whole).kv_tokens == 7264.0);
  }
  SECTION("decode only, no cut") {
    RankBatch whole;
    for (int i = 0; i < 10; ++i) whole.push_back({1, 100 * i, false});
    check_split(whole, 0);
  }
}

TEST_CASE("Two micro-batches leave a prefill step's attention busy time unchanged within launches",
          "[serving][batch]") {
  // 4096 prompt tokens per GPU as prompts of 1000 (the last cut to 96): compute-bound (projections
  // 2 x 4.2M params x 2048 tokens = 17 GFLOP per half against ~25 MB of HBM traffic), so each half
  // costs its FLOPs, which add up exactly, plus one launch: the split adds one launch per layer
  // per GPU per step (4 layers x launch_ns), to within a picosecond of rounding per kernel.
  const Fixture none(prefill_sets(4096, 1000, "none"));
  const Fixture two(prefill_sets(4096, 1000, "two_microbatch"));
  const Results a = none.run(), b = two.run();
  const int layers = none.scenario.model.layers;
  const TimePs launch_ps = ps_from_ns(none.profile.launch_ns);
  REQUIRE(launch_ps > 0);
  for (int g = 0; g < static_cast<int>(a.gpus.size()); ++g) {
    const TimePs diff = attention_busy(b, g) - attention_busy(a, g);
    CHECK(diff >= layers * (launch_ps - 2));
    CHECK(diff <= layers * (launch_ps + 2));
  }
}

// ---- 3. continuous batching in closed form ------------------------------------------------------
