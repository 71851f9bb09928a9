// Fixed-step batches from a scenario's workload (see workload_batch.hpp).
#include "engine/workload_batch.hpp"

#include <algorithm>
#include <cmath>

namespace moesim {

int sample_length(const LengthDist& d, Rng& rng) {
  double v = d.value;
  switch (d.kind) {
    case LengthKind::fixed:
      return std::max(1, d.value);
    case LengthKind::uniform:
      return d.min + static_cast<int>(rng.below(static_cast<std::uint32_t>(d.max - d.min + 1)));
    case LengthKind::empirical:
      return d.values.empty() ? 1 : d.values[rng.below(static_cast<std::uint32_t>(d.values.size()))];
    case LengthKind::lognormal: {
      const double s2 = std::log1p(d.cv * d.cv);
      const double mu = std::log(d.mean) - s2 / 2;
      v = std::exp(mu + std::sqrt(s2) * rng.normal());
      break;
    }
  }
  return static_cast<int>(std::clamp(std::round(v), static_cast<double>(d.min), static_cast<double>(d.max)));
}

namespace {

LengthDist workload_dist(LengthKind kind, int mean, double cv) {
  LengthDist d;
  d.kind = kind;
  d.value = d.min = d.max = std::max(1, mean);
  d.mean = d.value;
  d.cv = cv;
  if (kind == LengthKind::uniform) {
    d.min = 1;
    d.max = 2 * d.value - 1;  // mean exactly `mean`
  } else if (kind == LengthKind::lognormal) {
    d.min = 1;
    d.max = 1 << 24;
  }
  return d;
}

}  // namespace

StepBatch workload_batch(const Scenario& s, int gpus) {
  const WorkloadSpec& w = s.workload;
  StepBatch batch;
  batch.ranks.resize(static_cast<std::size_t>(gpus));
  for (int g = 0; g < gpus; ++g) {
    RankBatch& r = batch.ranks[static_cast<std::size_t>(g)];
    Rng rng = Rng::derived(s.seed, 0x6261746368ULL /* "batch" */, static_cast<std::uint64_t>(g));
    if (s.prefill()) {
      const LengthDist d =
          workload_dist(w.prompt_len_dist, w.prompt_len > 0 ? w.prompt_len : w.tokens_per_gpu, w.prompt_len_cv);
      for (int left = w.tokens_per_gpu; left > 0;) {
        const int n = std::min(left, sample_length(d, rng));
        r.push_back({n, 0, true});
        left -= n;
      }
    } else if (w.kv_len_dist == LengthKind::fixed) {
      r.assign(static_cast<std::size_t>(w.tokens_per_gpu), SeqChunk{1, w.kv_len, false});
    } else {
      const LengthDist d = workload_dist(w.kv_len_dist, w.kv_len, w.kv_len_cv);
      for (int i = 0; i < w.tokens_per_gpu; ++i) r.push_back({1, sample_length(d, rng), false});
    }
  }
  return batch;
}

}  // namespace moesim
