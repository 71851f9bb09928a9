#pragma once
// The batch a fixed-step run simulates, built from the scenario's [workload]: per rank, decode
// sequences with their KV lengths or prefill prompts, each drawn from a seeded stream per rank.
#include "core/rng.hpp"
#include "spec/scenario.hpp"
#include "spec/step_batch.hpp"

namespace moesim {

// A length drawn from `d` (>= 1; lognormal and uniform clamped to [d.min, d.max]).
int sample_length(const LengthDist& d, Rng& rng);
// Decode: tokens_per_gpu sequences per rank, one new token each over its drawn context. Prefill:
// prompts of drawn length (prompt_len; 0 = tokens_per_gpu) until tokens_per_gpu tokens, the last cut.
StepBatch workload_batch(const Scenario& scenario, int gpus);

}  // namespace moesim
