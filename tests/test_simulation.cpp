// End-to-end behaviour of the simulation engine on small scenarios built in code.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "engine/simulation.hpp"
#include "io/profile_io.hpp"
#include "io/results_writer.hpp"
#include "io/scenario_loader.hpp"
#include "io/timeline_writer.hpp"
#include "io/topology_loader.hpp"
#include "net/analytic_network.hpp"
#include "report/metrics.hpp"
#include "smoke_fixture.hpp"
#include "test_util.hpp"

using namespace moesim;

namespace {

using Fixture = test::SmokeFixture;

TimePs critical_sum(const StepResult& s) {
  TimePs t = 0;
  for (TimePs p : s.critical_ps) t += p;
  return t;
}

// Reads one column of a CSV written by the results writer.
std::vector<double> csv_column(const std::string& path, const std::string& column) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream hs(line);
  for (std::string c; std::getline(hs, c, ',');) header.push_back(c);
  const auto col = static_cast<std::size_t>(std::find(header.begin(), header.end(), column) - header.begin());
  REQUIRE(col < header.size());
  std::vector<double> out;
  while (std::getline(in, line)) {
    std::stringstream ls(line);
    std::string cell;
    for (std::size_t i = 0; i <= col; ++i) std::getline(ls, cell, ',');
    out.push_back(std::stod(cell));
  }
  return out;
}

}  // namespace

TEST_CASE("the critical path adds up to the step time", "[sim]") {
  for (const char* overlap : {"none", "two_microbatch"}) {
    for (const char* net : {"flow", "analytic"}) {
      Fixture f({std::string("overlap.mode=") + overlap, std::string("network.model=") + net});
      const Results r = f.run();
      REQUIRE(r.steps.size() == 3);
      for (const StepResult& s : r.steps) {
        INFO(overlap << " " << net << " step " << s.step);
        REQUIRE(s.step_ps() > 0);
        REQUIRE(critical_sum(s) == s.step_ps());
      }
    }
  }
}

TEST_CASE("same scenario and seed give identical results, another seed differs", "[sim]") {
  Fixture f;
  const Results a = f.run();
  const Results b = f.run();
  REQUIRE(a.total_ps == b.total_ps);
  for (std::size_t i = 0; i < a.steps.size(); ++i) REQUIRE(a.steps[i].end_ps == b.steps[i].end_ps);
  Fixture g({"seed=8"});
  REQUIRE(g.run().total_ps != a.total_ps);
}

TEST_CASE("a skewed gate on contiguous placement makes the hot experts' GPU the hottest", "[sim]") {
  // Zipf 1.5 without per-layer variation: experts 0 and 1 (both on GPU 0 with 16 experts on 8
  // GPUs) are the most popular in every layer.
  Fixture f({"gate.kind=zipf", "gate.zipf_exponent=1.5", "gate.layer_variation=false"});
  const Results r = f.run();
  const Summary s = summarize(r);
  const auto dir = test::scratch_dir("sim-skew");
  io::write_results({f.scenario, f.topology, f.profile, r, s}, dir.string());
  const auto received = csv_column((dir / "per_gpu.csv").string(), "received_per_step");
  const auto experts_us = csv_column((dir / "per_gpu.csv").string(), "busy_experts_us");
  REQUIRE(received.size() == 8);
  REQUIRE(std::max_element(received.begin(), received.end()) - received.begin() == 0);
  REQUIRE(std::max_element(experts_us.begin(), experts_us.end()) - experts_us.begin() == 0);
  REQUIRE(s.hottest_gpu == 0);
  REQUIRE(s.load_max_over_mean > 2.0);
  // Every assignment is computed somewhere: 8 GPUs x 32 tokens x top-2 x 3 MoE layers per step.
  double total = 0;
  for (double v : received) total += v;
  REQUIRE(total == Approx(8 * 32 * 2 * 3));
}

TEST_CASE("a uniform gate balances load, analytic and flow models agree on it", "[sim]") {
  Fixture flow({"gate.kind=uniform", "network.model=flow"});
  Fixture analytic({"gate.kind=uniform", "network.model=analytic"});
  const Summary sf = summarize(flow.run());
  const Summary sa = summarize(analytic.run());
  REQUIRE(sf.load_max_over_mean < 1.5);
  REQUIRE(sa.step_us_mean == Approx(sf.step_us_mean).epsilon(0.02));
}

TEST_CASE("a layer barrier never makes a step faster", "[sim]") {
  Fixture free_run({"gate.kind=zipf", "gate.zipf_exponent=1.2"});
  Fixture barrier({"gate.kind=zipf", "gate.zipf_exponent=1.2", "network.layer_barrier=true"});
  REQUIRE(summarize(barrier.run()).step_us_mean >= summarize(free_run.run()).step_us_mean);
}

TEST_CASE("throughput is tokens over step time", "[sim]") {
  Fixture f;
  const Results r = f.run();
  const Summary s = summarize(r);
  // 8 GPUs x 32 tokens per step; all steps back to back from t = 0.
  const double seconds = static_cast<double>(r.steps.back().end_ps) * 1e-12;
  REQUIRE(s.tokens_per_s_total == Approx(3 * 8 * 32 / seconds));
  REQUIRE(s.tokens_per_s_per_gpu == Approx(s.tokens_per_s_total / 8));
}

TEST_CASE("EP size larger than the topology is an input error", "[sim]") {
  Fixture f({"parallelism.ep=9"});
  REQUIRE_THROWS_AS(Simulation(f.scenario, f.topology, f.profile), InputError);
}

TEST_CASE("timeline.json is Chrome trace JSON with spans for every GPU", "[sim]") {
  Fixture f;
  const Results r = f.run();
  const auto j = nlohmann::json::parse(io::timeline_json(r));  // throws if not valid JSON
  REQUIRE(j["traceEvents"].is_array());
  std::set<std::string> phases;
  std::set<int> gpus;
  for (const auto& e : j["traceEvents"]) {
    if (e["ph"] != "X") continue;
    REQUIRE(e["ts"].is_number());
    REQUIRE(e["dur"].get<double>() > 0);
    phases.insert(e["name"].get<std::string>());
    gpus.insert(e["pid"].get<int>());
  }
  for (const char* phase : {"attention", "gate", "dispatch", "experts", "combine", "reduce"})
    REQUIRE(phases.count(phase) == 1);
  REQUIRE(gpus.size() == 8);
}

TEST_CASE("a scenario that does not fit in GPU memory says by how much", "[sim]") {
  // smoke: 32 sequences x kv_len x 4096 B per token per layer x 4 layers of KV cache. With
  // kv_len = 200,000 that is 32 x 200,000 x 4096 x 4 = 104.9 GB, more than an H100's 80 GB.
  Fixture f({"workload.kv_len=200000"});
  REQUIRE_THROWS_WITH(Simulation(f.scenario, f.topology, f.profile), Catch::Contains("does not fit in GPU memory") &&
                                                                         Catch::Contains("KV cache 104.9 GB") &&
                                                                         Catch::Contains("over by"));
  Fixture ok;
  const Results r = ok.run();
  // 16 experts on 8 GPUs: 2 per GPU x 3 MoE layers x (3 x 1024 x 512 x 2 B) = 18,874,368 B.
  REQUIRE(r.memory_expert_bytes_max.count() == Approx(18874368));
}

namespace {
// An analytic network that loses every flow from GPU 3 to GPU 5: a dependency that never resolves.
// It declares everything to an inner analytic model (same ids) and forwards its deliveries.
class LosingNetwork final : public Network, private DeliverySink {
 public:
  LosingNetwork(EventQueue& q, const Topology& t, const MessageCost& c) : Network(q, t, c), inner_(q, t, c) {
    inner_.set_sink(this);
  }
  using Network::start;
  void start(std::int64_t flow_id, std::uint64_t tag) override {
    const FlowDecl& f = flows_[static_cast<std::size_t>(flow_id - first_)];
    if (f.src_gpu == 3 && f.dst_gpu == 5) return;
    inner_.start(flow_id, tag);
  }

 private:
  void delivered(std::int64_t flow_id, std::uint64_t tag, TimePs at_ps) override { deliver(flow_id, tag, at_ps); }
  void on_declared(const Declaration& d) override {
    if (flows_.empty()) first_ = d.first_id;
    flows_.insert(flows_.end(), d.flows.begin(), d.flows.end());
    if (inner_.declare(d.flows, d.salt, d.size_by_src) != d.first_id) throw Error("LosingNetwork: ids out of step");
  }
  void on_cleared() override {
    inner_.clear_declared();
    flows_.clear();
  }
  AnalyticNetwork inner_;
  std::vector<FlowDecl> flows_;  // the declared ones, from id first_ on
  std::int64_t first_ = 0;
};
}  // namespace

TEST_CASE("a simulation that can no longer progress stops with the GPU, layer and phase stuck", "[sim]") {
  Fixture f({"gate.kind=uniform"});
  try {
    run_scenario(f.scenario, [](EventQueue& q, const Topology& t, MessageCost c) {
      return std::unique_ptr<Network>(std::make_unique<LosingNetwork>(q, t, c));
    });
    FAIL("a lost flow must stop the simulation");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    REQUIRE(msg.find("simulation stalled in step 0") != std::string::npos);
    REQUIRE(msg.find("MoE layer 1") != std::string::npos);  // smoke: layer 0 is dense
    REQUIRE(msg.find("GPU 5: dispatch (1 arrivals outstanding: every sender started") != std::string::npos);
  }
}

TEST_CASE("the qwen3 HGX scenario runs its MoE phases on the measured H100 kernel tables", "[simulation]") {
  // The profile measured for qwen3-30b-a3b (bf16, as the preset): gate, experts and combine come
  // from its tables, with the 16-experts-per-GPU curve for EP8; attention has no table.
  Scenario s = io::load_scenario(test::source_path("scenarios/qwen3-hgx-decode.toml"), {"workload.steps=2"});
  const ScenarioRun run = run_scenario(s);
  REQUIRE(run.profile.meta.source == "measured");
  REQUIRE(run.profile.kernels_us.count("expert_e16_us") == 1);
  CHECK(run.results.compute_sources ==
        "attention=roofline, dense_ffn=roofline, gate=measured, experts=measured, shared_experts=roofline, "
        "combine=measured");
  CHECK(run.summary.step_us_mean > 0);
}

TEST_CASE("a DeepSeek-V3 scenario takes measured fp8 expert and attention tables when its profile has them",
          "[simulation]") {
  // The shipped H100 profile's [kernels] are deepseek-v3's, with bf16 expert tables only: the
  // preset's fp8 experts and its attention use the roofline. Adding fp8 and attention tables (as
  // `kernels --precision fp8` and `attention` runs give) moves both phases onto them.
  const std::string shipped = test::source_path("calibrate/profiles/h100-sxm.toml");
  Scenario base = io::load_scenario(test::source_path("scenarios/hgx-prefill.toml"), {"workload.steps=1"});
  const ScenarioRun before = run_scenario(base);
  CHECK(before.results.compute_sources.find("attention=roofline,") != std::string::npos);
  CHECK(before.results.compute_sources.find(
            "experts=roofline (no fp8 expert table; the profile's expert table is for 2-byte weights)") !=
        std::string::npos);

  Profile p = io::load_profile(shipped);
  p.kernels_us["expert_fp8_us"] = LogTable{{1, 128, 4096}, {6, 9, 160}};
  p.kernels_expert_fp8_fixed_us = 20;
  p.kernels_us["attn_prefill_us"] = LogTable{{1e4, 1e8}, {20, 9000}};
  p.kernels_us["attn_decode_b1_us"] = LogTable{{512, 32768}, {12, 90}};
  const auto dir = test::scratch_dir("sim-measured-fp8-attention");
  const std::string path = test::write_file(dir, "h100-fp8.toml", io::profile_to_toml(p));
  Scenario measured = io::load_scenario(test::source_path("scenarios/hgx-prefill.toml"),
                                        {"workload.steps=1", "hardware.profile=\"" + path + "\""});
  const ScenarioRun after = run_scenario(measured);
  INFO(after.results.compute_sources);
  CHECK(after.results.compute_sources.find("attention=measured core, roofline projections") != std::string::npos);
  CHECK(after.results.compute_sources.find("experts=measured (fp8)") != std::string::npos);
  CHECK(after.summary.step_us_mean != before.summary.step_us_mean);
}

TEST_CASE("an EP kernel's SMs slow the compute that runs beside it", "[sim]") {
  Fixture f({"gate.kind=uniform"});
  f.profile.sms = 132;
  EpKernelParams k;
  k.mode = EpMode::one_sided;  // one HGX node: one NVLink domain
  f.profile.ep_kernels["free"] = k;
  k.sms = 66;  // half the SMs: compute beside it takes twice as long
  f.profile.ep_kernels["half"] = k;
  const auto run = [&](const char* kernel) {
    Scenario s = f.scenario;
    s.ep_kernel = kernel;
    return Simulation(s, f.topology, f.profile).run();
  };
  const Results free = run("free"), half = run("half");
  TimePs shared_free = 0, shared_half = 0, attention_free = 0, attention_half = 0;
  for (std::size_t g = 0; g < free.gpus.size(); ++g) {
    shared_free += free.gpus[g].busy_ps[static_cast<int>(Phase::shared_experts)];
    shared_half += half.gpus[g].busy_ps[static_cast<int>(Phase::shared_experts)];
    attention_free += free.gpus[g].busy_ps[static_cast<int>(Phase::attention)];
    attention_half += half.gpus[g].busy_ps[static_cast<int>(Phase::attention)];
  }
  // Shared experts start with the dispatch kernel: every one of them runs on half the SMs.
  REQUIRE(shared_free > 0);
  REQUIRE(static_cast<double>(shared_half) == Approx(2.0 * static_cast<double>(shared_free)).epsilon(1e-6));
  // Attention of the first layer runs before any kernel: no slower there; later layers may overlap.
  REQUIRE(attention_half >= attention_free);
  REQUIRE(half.notes.size() == free.notes.size() + 1);
  REQUIRE(half.steps.back().end_ps > free.steps.back().end_ps);
}

TEST_CASE("a fusing EP kernel runs no permute and no reduction of moesim's own", "[sim]") {
  const Fixture plain;
  const Fixture fused({"network.fuse_permute_reduce=true"});
  const Results a = plain.run();
  const Results b = fused.run();
  const ComputeModel cm(plain.profile, plain.scenario.model);
  const int tokens = plain.scenario.workload.tokens_per_gpu;
  REQUIRE(cm.gate_ps(tokens, false) < cm.gate_ps(tokens));  // the router and top-k alone
  const auto busy = [](const Results& r, Phase p) {
    TimePs sum = 0;
    for (const GpuResult& g : r.gpus) sum += g.busy_ps[static_cast<int>(p)];
    return sum;
  };
  CHECK(busy(a, Phase::reduce) > 0);
  CHECK(busy(b, Phase::reduce) == 0);
  CHECK(busy(b, Phase::gate) < busy(a, Phase::gate));
  CHECK(busy(b, Phase::experts) == busy(a, Phase::experts));
  CHECK(b.total_ps < a.total_ps);
  CHECK(b.compute_sources.find("combine=fused into the EP combine") != std::string::npos);
  CHECK(b.compute_sources.find("permute fused into dispatch") != std::string::npos);
}
