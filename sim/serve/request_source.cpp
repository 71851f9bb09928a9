// Request arrivals and lengths (see request_source.hpp).
#include "serve/request_source.hpp"

#include <cmath>

#include "engine/workload_batch.hpp"

namespace moesim {

namespace {

LengthDist with_trace(LengthDist d, const std::vector<Request>& trace, bool prompt) {
  if (d.kind != LengthKind::empirical) return d;
  d.values.clear();
  for (const Request& r : trace) d.values.push_back(prompt ? r.prompt_tokens : r.output_tokens);
  return d;
}

// Gamma(shape k, scale 1) by Marsaglia-Tsang (k < 1 boosted by U^(1/k)).
double gamma_unit(double k, Rng& rng) {
  if (k < 1) return gamma_unit(k + 1, rng) * std::pow(1 - rng.uniform(), 1 / k);
  const double d = k - 1.0 / 3, c = 1 / std::sqrt(9 * d);
  while (true) {
    double x = 0, v = 0;
    do {
      x = rng.normal();
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1 - rng.uniform();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return d * v;
  }
}

}  // namespace

LengthSampler::LengthSampler(const ServingSpec& spec, const std::vector<Request>& trace)
    : prompt_(with_trace(spec.prompt, trace, true)), output_(with_trace(spec.output, trace, false)) {}

int LengthSampler::prompt(Rng& rng) const { return sample_length(prompt_, rng); }
int LengthSampler::output(Rng& rng) const { return sample_length(output_, rng); }

std::vector<Request> open_loop_requests(const ServingSpec& spec, const std::vector<Request>& trace,
                                        std::uint64_t seed) {
  std::vector<Request> out;
  const auto full = [&] { return spec.max_requests > 0 && out.size() >= static_cast<std::size_t>(spec.max_requests); };
  const TimePs window = ps_from_us(spec.duration_s * 1e6);
  if (spec.arrival == ArrivalKind::trace) {
    for (const Request& r : trace) {
      if (r.arrival_ps >= window || full()) break;
      out.push_back(r);
      out.back().id = static_cast<std::int64_t>(out.size()) - 1;
    }
    return out;
  }
  const LengthSampler lengths(spec, trace);
  Rng rng = Rng::derived(seed, 0x7265717565737473ULL /* "requests" */);
  const double mean_gap_s = 1 / spec.rate_per_s;
  // Gamma with mean 1/rate and CV c: shape 1/c^2, scale mean * c^2 (c = 1: exponential, Poisson).
  const double shape = 1 / (spec.arrival_cv * spec.arrival_cv);
  double t_s = 0;
  while (!full()) {
    const double gap = spec.arrival == ArrivalKind::poisson ? -std::log(1 - rng.uniform()) * mean_gap_s
                                                            : gamma_unit(shape, rng) * mean_gap_s / shape;
    t_s += gap;
    if (t_s >= spec.duration_s) break;
    Request r;
    r.id = static_cast<std::int64_t>(out.size());
    r.arrival_ps = ps_from_us(t_s * 1e6);
    r.prompt_tokens = lengths.prompt(rng);
    r.output_tokens = lengths.output(rng);
    out.push_back(r);
  }
  return out;
}

}  // namespace moesim
