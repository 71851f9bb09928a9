#pragma once
// Writes a run's results: summary.json, per_step.csv, per_layer.csv, per_gpu.csv, per_link.csv,
// timeline.json (Chrome trace, opens in Perfetto) and the resolved scenario, into one directory,
// which takes the place of the previous results as one step (replace_directory).
#include <filesystem>
#include <functional>
#include <string>

#include "engine/results.hpp"
#include "gpu/profile.hpp"
#include "net/topology.hpp"
#include "report/metrics.hpp"
#include "serve/serving_results.hpp"
#include "spec/scenario.hpp"

namespace moesim::io {

struct RunContext {  // what the writers need to say where the numbers came from
  const Scenario& scenario;
  const Topology& topology;
  const Profile& profile;
  const Results& results;
  const Summary& summary;
  const ServingResults* serving = nullptr;  // a serving run (summary.serving has its figures)
};

// Writes a result directory all at once: `write` fills a fresh temporary directory beside `dir`
// (DIR.tmp-PID-N, same filesystem), which is then renamed into place; the previous `dir` is moved
// aside and removed only after. On any failure the temporary is removed, `dir` is left as it was,
// and Error names the file and the OS reason. An existing `dir` must be empty or hold summary.json
// (InputError otherwise: an `-o` naming some other directory is never deleted). A symbolic link is
// followed, so the link keeps pointing at the results.
void replace_directory(const std::filesystem::path& dir,
                       const std::function<void(const std::filesystem::path& tmp)>& write);
// Writes the run's files into `dir`, which must exist (replace_directory's `write`).
void write_result_files(const RunContext& run, const std::filesystem::path& dir);
// write_result_files through replace_directory; throws Error when a file cannot be written.
void write_results(const RunContext& run, const std::string& dir);
std::string summary_json(const RunContext& run);  // the contents of summary.json

}  // namespace moesim::io
