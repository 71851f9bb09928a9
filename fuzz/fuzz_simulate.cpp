// libFuzzer target: scenario TOML text loaded and, when small, simulated end to end (its topology,
// profile and trace come from the source tree). Bad input must end as an InputError and a run that
// would pass the time limit as a TimeLimitError; a crash, a sanitizer report, another exception, or
// results that break the engine's invariants (a step's critical path not adding up to its length, a
// non-finite or negative figure, a link busier than its bandwidth allows) are findings.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "app/scenario_run.hpp"
#include "core/error.hpp"
#include "io/scenario_loader.hpp"
#include "io/toml_reader.hpp"

namespace {

// Token-expert assignments times steps above which a scenario is skipped, and the wall time a run
// may take: the fuzzer looks for wrong behaviour, not for big scenarios.
constexpr double kMaxWork = 2e6;
constexpr auto kRunBudget = std::chrono::seconds(2);

void require(bool ok) {
  if (!ok) std::abort();
}

void check(const moesim::ScenarioRun& run) {
  using namespace moesim;
  const Results& r = run.results;
  if (r.stopped != RunStop::none || r.steps.empty()) return;
  for (const StepResult& s : r.steps) {
    require(s.end_ps >= s.start_ps && s.end_ps <= r.total_ps && s.end_ps < kTimeLimitPs);
    TimePs critical = 0;
    for (TimePs p : s.critical_ps) {
      require(p >= 0);
      critical += p;
    }
    // The critical path covers the step up to its last task; weight moves may end it later.
    require(critical <= s.end_ps - s.start_ps);
  }
  const Summary& m = run.summary;
  for (double v : {m.step_us_mean, m.step_us_p50, m.step_us_p99, m.tokens_per_s_total, m.load_max_over_mean,
                   m.hottest_link_utilization, m.dropped_fraction})
    require(std::isfinite(v) && v >= 0);
  require(m.step_us_p50 > 0 && m.hottest_link_utilization <= 1.0 + 1e-9);
  for (const LinkResult& l : r.links) require(l.bytes.count() >= 0 && std::isfinite(l.bytes.count()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const toml::table t = moesim::io::parse_toml_text(text, "fuzz.toml");
    const moesim::Scenario s = moesim::io::load_scenario_table(t, "fuzz.toml", MOESIM_SOURCE_DIR "/scenarios");
    const double work = static_cast<double>(s.workload.tokens_per_gpu) * s.model.top_k * s.model.layers *
                        s.workload.steps * std::max(1, s.ep_size == 0 ? 8 : s.ep_size);
    if (work > kMaxWork) return 0;
    moesim::RunControl control;
    control.deadline = moesim::RunControl::Clock::now() + kRunBudget;
    check(moesim::run_scenario(s, {}, &control));
  } catch (const moesim::InputError&) {
  } catch (const moesim::TimeLimitError&) {}
  return 0;
}
