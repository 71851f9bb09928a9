// Benchmark: synthetic gate and MoE layer plan throughput for DeepSeek-V3-like dimensions,
// assuming one core and a contiguous placement; prints token-expert assignments per second.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "moe/gate.hpp"
#include "moe/moe_layer.hpp"
#include "moe/placement.hpp"

int main() {
  const int experts = 256, top_k = 8, gpus = 72, tokens = 128, layers = 58, steps = 20;
  moesim::GateSpec spec;
  spec.kind = moesim::GateModel::zipf;
  spec.zipf_exponent = 1.0;
  spec.layer_variation = true;
  auto gate = moesim::make_synthetic_gate(spec, experts, top_k, layers, 1234);
  const moesim::Placement placement = moesim::make_placement(moesim::PlacementKind::contiguous, layers, experts, gpus);
  std::vector<int> hosts(gpus);
  for (int g = 0; g < gpus; ++g) hosts[static_cast<std::size_t>(g)] = g / 4;  // 4-GPU compute trays

  using Clock = std::chrono::steady_clock;
  std::vector<std::vector<int>> ids(gpus);
  moesim::LayerTraffic traffic;
  std::int64_t checksum = 0;
  for (bool dedup : {true, false}) {
    const moesim::MoeLayerPlanner planner(placement, hosts, dedup);
    double gate_s = 0, plan_s = 0;
    for (int step = 0; step < steps; ++step) {
      for (int layer = 0; layer < layers; ++layer) {
        const auto t0 = Clock::now();
        for (int g = 0; g < gpus; ++g) gate->assign(step, layer, g, tokens, ids[static_cast<std::size_t>(g)]);
        const auto t1 = Clock::now();
        planner.plan(layer, ids, top_k, traffic);
        const auto t2 = Clock::now();
        gate_s += std::chrono::duration<double>(t1 - t0).count();
        plan_s += std::chrono::duration<double>(t2 - t1).count();
        checksum += traffic.copies[1] + traffic.received[0];
      }
    }
    const double assignments = static_cast<double>(steps) * layers * gpus * tokens * top_k;
    std::printf("%s: %d steps x %d layers x %d GPUs x %d tokens x top-%d = %.0f assignments\n",
                dedup ? "dedup" : "no dedup", steps, layers, gpus, tokens, top_k, assignments);
    std::printf("  gate (zipf 1.0): %.1f M assignments/s (%.3f s)\n", assignments / gate_s * 1e-6, gate_s);
    std::printf("  plan:            %.1f M assignments/s (%.3f s)\n", assignments / plan_s * 1e-6, plan_s);
  }
  std::printf("checksum %lld\n", static_cast<long long>(checksum));
  return 0;
}
