#pragma once
// Runs a set of flows through SimGrid's flow-level network model configured as plain max-min
// (CM02 without cross traffic, TCP window or latency-weighted shares), on links and explicit
// routes given by the caller. No moesim types here: bench/simgrid_check.cpp translates.
#include <cstdint>
#include <string>
#include <vector>

namespace moesim::bench {

struct SgRoute {
  int src_gpu = 0;
  int dst_gpu = 0;
  int variant = 0;         // several routes of one GPU pair (ECMP): one SimGrid host pair each
  std::vector<int> links;  // indices into SgInput::link_GBps, source to destination
};

struct SgFlow {
  std::uint32_t route = 0;  // index into SgInput::routes
  std::uint64_t bytes = 0;
  double start_ps = 0;
};

struct SgInput {
  std::vector<double> link_GBps;  // per directed link; latency 0
  std::vector<SgRoute> routes;
  std::vector<SgFlow> flows;
  // Flows (indices) simulated apart, each group in a SimGrid run of its own; empty: one run of
  // all. Only valid for groups that do not overlap in time (the caller checks the results).
  std::vector<std::vector<std::uint32_t>> groups;
  int jobs = 1;  // SimGrid runs at once
};

struct SgResult {
  std::vector<double> finish_ps;  // per flow, as SgInput::flows
  double cpu_s = 0;               // SimGrid's simulation loops (platform building excluded), summed
};

// SimGrid allows one engine per process: each group runs in a child process (fork), which hands
// its results back through a temporary file. Throws moesim::Error when a child fails.
SgResult run_simgrid(const SgInput& input);

// As run_simgrid, but first looks for the results of the same input in `cache_file` (SimGrid is
// deterministic and, on the decode step, minutes slower than moesim), and stores them there after
// a run. `cached` tells which happened. An empty file name: no cache.
SgResult run_simgrid_cached(const SgInput& input, const std::string& cache_file, bool& cached);

}  // namespace moesim::bench
