// Flow sets of the SimGrid cross-check (see simgrid_cases.hpp).
#include "simgrid_cases.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "net/topology_generators.hpp"

namespace moesim::bench {

namespace {

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double unit(std::uint64_t x) { return static_cast<double>(splitmix(x) >> 11) * 0x1.0p-53; }

// 72 GPUs on one NVSwitch, 900 GB/s per direction, as one GB200 NVL72 rack's NVLink domain.
Topology star72() {
  Topology t("star72");
  for (int g = 0; g < 72; ++g) {
    TopoNode gpu{"gpu" + std::to_string(g), NodeKind::gpu};
    gpu.host = g / 4;
    gpu.domain = 0;
    t.add_node(gpu);
  }
  const int sw = t.add_node(TopoNode{"nvswitch", NodeKind::nvswitch});
  for (int g = 0; g < 72; ++g) t.add_duplex(t.gpu_node(g), sw, Bandwidth::from_GBps(900), 250, "nvlink");
  t.finalize();
  return t;
}

// Nine HGX nodes of 8 GPUs, rail-optimised 400 Gb/s NICs, leaves joined by 4 spines (4 ECMP
// routes between GPUs of different rails).
Topology fabric9x8() {
  HgxSpec spec;
  spec.name = "hgx-9x8";
  spec.nodes = 9;
  spec.gpus_per_node = 8;
  spec.nvlink_GBps = 450;
  spec.nvlink_latency_ns = 250;
  spec.scaleout.nic_Gbps = 400;
  spec.scaleout.nic_latency_ns = 800;
  spec.scaleout.fabric_latency_ns = 300;
  Topology t = make_hgx(spec);
  t.finalize();
  return t;
}

// An all-to-all among all GPUs with skewed sizes: destination d receives in proportion to a
// Zipf(0.6) weight of its rank (a different ranking per seed), each pair's size varied by +-50%.
FlowRecord::Batch skewed_all_to_all(int gpus, std::uint64_t seed, double mean_bytes) {
  std::vector<double> weight(static_cast<std::size_t>(gpus));
  double sum = 0;
  for (int d = 0; d < gpus; ++d) {
    const auto rank =
        static_cast<double>((static_cast<std::uint64_t>(d) * 37 + seed * 11) % static_cast<std::uint64_t>(gpus));
    weight[static_cast<std::size_t>(d)] = std::pow(rank + 1, -0.6);
    sum += weight[static_cast<std::size_t>(d)];
  }
  FlowRecord::Batch b;
  b.salt = seed;
  for (int s = 0; s < gpus; ++s)
    for (int d = 0; d < gpus; ++d) {
      if (s == d) continue;
      const double w = weight[static_cast<std::size_t>(d)] * gpus / sum;
      const double u = unit(seed << 32 ^ static_cast<std::uint64_t>(s) << 16 ^ static_cast<std::uint64_t>(d));
      const double bytes = std::max(64.0, std::round(mean_bytes * w * (0.5 + u)));
      b.flows.push_back(FlowDecl{s, d, Bytes(bytes), 0});
    }
  return b;
}

// The busiest GPU port's time for a batch: its bytes in or out over its one link.
TimePs port_time_ps(const FlowRecord::Batch& b, int gpus, double GBps) {
  std::vector<double> in(static_cast<std::size_t>(gpus)), out(static_cast<std::size_t>(gpus));
  for (const FlowDecl& f : b.flows) {
    out[static_cast<std::size_t>(f.src_gpu)] += f.bytes.count();
    in[static_cast<std::size_t>(f.dst_gpu)] += f.bytes.count();
  }
  const double most = std::max(*std::max_element(in.begin(), in.end()), *std::max_element(out.begin(), out.end()));
  return static_cast<TimePs>(most / (GBps * 1e-3));
}

// Declares `batch` at `at_ps`; source s starts its flows at at_ps + s x stagger_ps.
void add_wave(FlowRecord& rec, std::int64_t& next_id, FlowRecord::Batch batch, TimePs at_ps, TimePs stagger_ps) {
  rec.ops.push_back({FlowRecord::Kind::declare, at_ps, static_cast<std::int64_t>(rec.batches.size())});
  for (const FlowDecl& f : batch.flows)
    rec.ops.push_back({FlowRecord::Kind::start, at_ps + f.src_gpu * stagger_ps, next_id++});
  rec.batches.push_back(std::move(batch));
}

void sort_ops(FlowRecord& rec) {
  std::stable_sort(rec.ops.begin(), rec.ops.end(),
                   [](const FlowRecord::Op& a, const FlowRecord::Op& b) { return a.at_ps < b.at_ps; });
}

// One decode step of the default scenario in flow mode, recorded; sizes rounded to whole bytes
// (SimGrid's are integers) and clears dropped (the replays keep every flow declared).
FlowSet decode_step(const std::string& source_dir) {
  const Scenario scenario =
      io::load_scenario(source_dir + "/scenarios/default.toml",
                        {"network.model=\"flow\"", "workload.steps=1", "output.timeline_steps=0"});
  FlowSet set{"decode-step", Topology(), {}};
  ScenarioRun run = run_scenario(scenario, [&](EventQueue& q, const Topology& t, MessageCost c) {
    return std::make_unique<RecordingFlowModel>(q, t, std::move(c), scenario.resolve_tolerance, set.record);
  });
  set.topology = std::move(run.topology);
  std::erase_if(set.record.ops, [](const FlowRecord::Op& op) { return op.kind == FlowRecord::Kind::clear; });
  for (FlowRecord::Batch& b : set.record.batches)
    for (FlowDecl& f : b.flows) f.bytes = Bytes(std::round(f.bytes.count()));
  return set;
}

}  // namespace

std::vector<std::string> flow_set_names(bool quick) {
  std::vector<std::string> names{"a2a-star72", "a2a-star72-3waves", "a2a-hgx-9x8"};
  if (!quick) names.emplace_back("decode-step");
  return names;
}

FlowSet make_flow_set(const std::string& name, const std::string& source_dir) {
  constexpr double kMeanBytes = 7168.0 * 128 * 8 / 72;  // a decode dispatch: 128 tokens x top-8 of 7 KiB
  if (name == "a2a-star72" || name == "a2a-star72-3waves") {
    FlowSet set{name, star72(), {}};
    std::int64_t next_id = 0;
    const int waves = name == "a2a-star72" ? 1 : 3;
    for (int w = 0; w < waves; ++w) {
      FlowRecord::Batch b = skewed_all_to_all(72, 1 + static_cast<std::uint64_t>(w), kMeanBytes);
      // Each wave starts when the previous one's busiest port is 40% through.
      const TimePs at = static_cast<TimePs>(w) * (port_time_ps(b, 72, 900) * 2 / 5);
      add_wave(set.record, next_id, std::move(b), at, 0);
    }
    sort_ops(set.record);
    return set;
  }
  if (name == "a2a-hgx-9x8") {
    // Two waves with different ECMP salts; sources start 50 ns apart.
    FlowSet set{name, fabric9x8(), {}};
    std::int64_t next_id = 0;
    FlowRecord::Batch first = skewed_all_to_all(72, 7, kMeanBytes);
    const TimePs at = port_time_ps(first, 72, 50) / 2;  // halfway through the first on a NIC
    add_wave(set.record, next_id, std::move(first), 0, 50'000);
    add_wave(set.record, next_id, skewed_all_to_all(72, 8, kMeanBytes), at, 50'000);
    sort_ops(set.record);
    return set;
  }
  if (name == "decode-step") return decode_step(source_dir);
  throw Error("simgrid_check: unknown case " + name);
}

}  // namespace moesim::bench
