#pragma once
// Requests of an open-loop arrival process (Poisson or gamma inter-arrivals over the arrival
// window) or of a request trace, with lengths drawn from the scenario's distributions.
#include <cstdint>
#include <vector>

#include "core/rng.hpp"
#include "serve/request.hpp"
#include "spec/serving_spec.hpp"

namespace moesim {

class LengthSampler {
 public:
  // `trace`: the request trace's requests, whose lengths an empirical distribution draws from.
  LengthSampler(const ServingSpec& spec, const std::vector<Request>& trace);
  int prompt(Rng& rng) const;
  int output(Rng& rng) const;

 private:
  LengthDist prompt_, output_;
};

// Open-loop requests in [0, duration_s): the trace's (arrival = trace: its times and lengths), or
// Poisson / gamma arrivals with drawn lengths; at most max_requests when > 0. Closed-loop arrivals
// are made by the simulator as users finish.
std::vector<Request> open_loop_requests(const ServingSpec& spec, const std::vector<Request>& trace, std::uint64_t seed);

}  // namespace moesim
