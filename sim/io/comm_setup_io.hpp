#pragma once
// Communication benchmark conditions from TOML (published-figure files) and the topology a
// condition names, with its node count set: tests/data/published/README.md has the format.
#include <string>
#include <vector>

#include "comm/comm_benchmark.hpp"
#include "net/topology.hpp"

namespace moesim::io {

// One condition of `moesim comm`: where its topology and profile come from, the kernel, the run.
struct CommSetup {
  std::string topology;  // topology file
  int nodes = 0;         // > 0: overrides a generator topology's nodes (hgx) or racks (nvl)
  std::string profile;   // profile file
  std::string kernel = "nccl";
  int sms = 0;  // > 0: the kernel's SM count for this run (the profile's otherwise)
  int hidden = 7168;
  std::string dispatch_dtype = "bf16";  // bf16 | fp8 (one 4-byte scale per 128 values)
  std::string combine_dtype = "bf16";
  CommBenchSpec spec;  // dispatch_bytes / combine_bytes 0: from hidden and the dtypes
  // Fills spec.dispatch_bytes / combine_bytes from hidden and the dtypes where they are 0.
  void resolve_bytes();
};

// Bytes of one token of `hidden` values in `dtype` (bf16, fp8 with its scales); InputError otherwise.
double token_bytes(int hidden, const std::string& dtype);

// A generator topology file with `nodes` nodes (hgx) or racks (nvl); nodes == 0: as the file says.
Topology load_topology_nodes(const std::string& path, int nodes);

struct PublishedFigure {
  std::string label;  // e.g. "EP16 dispatch"
  std::string where;  // file:line:col of its [[figure]]
  CommSetup setup;
  std::string metric;  // a comm_metric_names() name
  double value = 0;    // as published
  double tolerance = 0.15;
};

struct PublishedSet {
  std::string file;
  std::string title;
  std::string citation;
  std::string conditions;
  std::vector<PublishedFigure> figures;
};

// Reads a published-figure file: [source] title / citation / conditions, [setup] (a condition's
// keys, file paths relative to the file), [[figure]] label / metric / value / tolerance and any
// setup key that differs. InputError with file:line:col on anything wrong.
PublishedSet load_published(const std::string& path);

}  // namespace moesim::io
