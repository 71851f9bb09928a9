// Routing sources for the calibrator (see routing.hpp).
#include "ops/routing.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "core/error.hpp"
#include "trace/trace.hpp"

namespace moesim::calib {

namespace {

void fill_random_weights(Routing& r, std::uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x5EEDF00Dull);
  std::uniform_real_distribution<float> u(0.1f, 1.0f);
  r.weights.resize(r.ids.size());
  for (int t = 0; t < r.tokens; ++t) {
    float* w = r.weights.data() + static_cast<std::size_t>(t) * r.top_k;
    float sum = 0;
    for (int j = 0; j < r.top_k; ++j) sum += (w[j] = u(rng));
    for (int j = 0; j < r.top_k; ++j) w[j] /= sum;
  }
}

}  // namespace

std::vector<int> Routing::counts() const {
  std::vector<int> c(experts, 0);
  for (std::int32_t e : ids) ++c.at(static_cast<std::size_t>(e));
  return c;
}

Routing synthetic_routing(const GateSpec& spec, const std::string& label, double skew, int experts, int top_k,
                          int tokens, std::uint64_t seed) {
  if (tokens < 0) throw InputError(fmt::format("tokens = {} must be >= 0", tokens));
  Routing r;
  r.tokens = tokens;
  r.top_k = top_k;
  r.experts = experts;
  r.label = label;
  r.skew = skew;
  auto gate = make_synthetic_gate(spec, experts, top_k, 1, seed);
  std::vector<int> ids;
  gate->assign(0, 0, 0, tokens, ids);
  r.ids.assign(ids.begin(), ids.end());
  fill_random_weights(r, seed);
  return r;
}

Routing trace_routing(const std::string& path, int experts, int top_k, int tokens, std::uint64_t step, int layer,
                      std::uint64_t seed) {
  TraceReader reader(path);
  const TraceHeader& h = reader.header();
  if (h.experts != experts || h.top_k != top_k)
    throw InputError(fmt::format("{}: trace has {} experts, top-{}; the model has {} experts, top-{}", path, h.experts,
                                 h.top_k, experts, top_k));
  if (h.counts_only()) throw InputError(fmt::format("{}: a counts-only trace has no per-token expert ids", path));
  if (layer < 0 || layer >= h.layers)
    throw InputError(fmt::format("{}: MoE layer {} outside [0, {})", path, layer, h.layers));
  TraceStep s;
  bool found = false;
  while (reader.next(s))
    if (s.step == step) {
      found = true;
      break;
    }
  if (!found) throw InputError(fmt::format("{}: no step {}", path, step));
  Routing r;
  r.tokens = tokens;
  r.top_k = top_k;
  r.experts = experts;
  r.label = path;
  r.ids.reserve(static_cast<std::size_t>(tokens) * top_k);
  std::vector<float> weights;
  std::int64_t have = 0;
  for (int rank = 0; rank < h.ranks && have < tokens; ++rank) {
    const std::size_t b = static_cast<std::size_t>(layer) * h.ranks + rank;
    const std::int64_t take = std::min<std::int64_t>(s.tokens[b], tokens - have);
    const std::size_t from = s.offsets[b], n = static_cast<std::size_t>(take) * top_k;
    r.ids.insert(r.ids.end(), s.experts.begin() + static_cast<std::ptrdiff_t>(from),
                 s.experts.begin() + static_cast<std::ptrdiff_t>(from + n));
    if (h.has_weights())
      weights.insert(weights.end(), s.weights.begin() + static_cast<std::ptrdiff_t>(from),
                     s.weights.begin() + static_cast<std::ptrdiff_t>(from + n));
    have += take;
  }
  if (have < tokens)
    throw InputError(
        fmt::format("{}: step {} layer {} holds {} tokens; asked for {}", path, step, layer, have, tokens));
  if (h.has_weights())
    r.weights = std::move(weights);
  else
    fill_random_weights(r, seed);
  return r;
}

}  // namespace moesim::calib
