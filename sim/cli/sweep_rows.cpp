// sweep.csv rows and --resume's reading of them (see sweep_rows.hpp).
#include "cli/sweep_rows.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "io/csv_text.hpp"
#include "io/csv_writer.hpp"
#include "io/metric_registry.hpp"

namespace moesim::cli {

namespace {

// sweep.csv's metric columns (registry names), between status and wall_s.
constexpr std::string_view kMetrics[] = {"gpus",
                                         "step_us_mean",
                                         "step_us_p50",
                                         "step_us_p90",
                                         "step_us_p99",
                                         "tokens_per_s_total",
                                         "tokens_per_s_per_gpu",
                                         "layer_gpu_load_max_over_mean",
                                         "gpu_load_max_over_mean",
                                         "hottest_link_utilization",
                                         "network_bytes_per_step",
                                         "scaleout_bytes_per_step",
                                         "dropped_fraction"};
// Serving sweeps add the request-level figures (the Pareto plot's axes among them).
constexpr std::string_view kServingMetrics[] = {
    "ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p99", "tpot_ms_p50", "tpot_ms_p90", "tpot_ms_p99",
    "e2e_s_p90", "output_tokens_per_s_per_gpu", "input_tokens_per_s_per_gpu", "tokens_per_s_per_user",
    "request_rate_per_s", "goodput_rps", "slo_attainment", "memo_error_p99"};
constexpr RunStatus kStatuses[] = {RunStatus::ok, RunStatus::error, RunStatus::infeasible, RunStatus::timeout};
// Values and errors stay on one physical line per row, which keeps --resume's reading simple.
constexpr io::CsvQuoting kOneLine{.always = false, .one_line = true};

// Replaces `path` whole: a crash while rewriting leaves the old file, not half of the new one.
void replace_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  io::write_file(tmp, text);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw Error(fmt::format("cannot replace {}: {}", path.string(), ec.message()));
}

}  // namespace

std::string_view status_name(RunStatus status) {
  switch (status) {
    case RunStatus::ok:
      return "ok";
    case RunStatus::error:
      return "error";
    case RunStatus::infeasible:
      return "infeasible";
    case RunStatus::timeout:
      return "timeout";
  }
  return "error";
}

std::string sweep_build() { return fmt::format("{}+{}", MOESIM_VERSION, MOESIM_COMMIT); }

std::string text_hash(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", h);
}

std::string header_line(const SweepAxes& axes, bool serving) {
  io::CsvWriter h;
  h.text("run_id");
  for (const std::string& key : axes.keys()) h.text(key, kOneLine);
  h.text("status");
  for (std::string_view m : kMetrics) h.text(io::metric(m).name);
  if (serving)
    for (std::string_view m : kServingMetrics) h.text(io::metric(m).name);
  return h.fields({"wall_s", "build", "scenario_hash", "error"}).end_row().str();
}

std::string format_row(const SweepAxes& axes, std::size_t id, RunStatus status, const Summary* summary, double wall_s,
                       const std::string& scenario_hash, const std::string& error, bool serving) {
  io::CsvWriter row;
  row.number(id);
  for (const std::string& v : axes.values(id)) row.text(v, kOneLine);
  row.text(status_name(status));
  if (status == RunStatus::ok && summary) {
    for (std::string_view m : kMetrics) row.text(io::format_metric(io::metric(m), *summary));
    if (serving)
      for (std::string_view m : kServingMetrics) row.text(io::format_metric(io::metric(m), *summary));
  } else {
    row.empty(std::size(kMetrics) + (serving ? std::size(kServingMetrics) : 0));
  }
  row.number(wall_s, "{:.4f}").text(sweep_build(), kOneLine).text(scenario_hash);
  if (error.empty())
    row.empty();
  else
    row.text(error, {.always = true, .one_line = true});
  return row.end_row().str();
}

namespace {

// "section.key" -> value text of each `key = value` line; arrays of tables are numbered.
std::map<std::string, std::string> toml_values(std::string_view text) {
  std::map<std::string, std::string> values;
  std::map<std::string, int> array_counts;
  std::string section, line;
  std::istringstream in{std::string(text)};
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("[[", 0) == 0) {
      const std::string name = line.substr(2, line.find("]]") - 2);
      section = fmt::format("{}[{}].", name, array_counts[name]++);
    } else if (line[0] == '[') {
      section = line.substr(1, line.find(']') - 1) + ".";
    } else if (const auto eq = line.find(" = "); eq != std::string::npos) {
      values[section + line.substr(0, eq)] = line.substr(eq + 3);
    }
  }
  return values;
}

}  // namespace

std::string toml_difference(std::string_view there, std::string_view now) {
  const auto a = toml_values(there), b = toml_values(now);
  std::vector<std::string> diffs;
  for (const auto& [key, value] : a) {
    const auto it = b.find(key);
    if (it == b.end())
      diffs.push_back(fmt::format("{} = {} there, not set now", key, value));
    else if (it->second != value)
      diffs.push_back(fmt::format("{} = {} there, {} now", key, value, it->second));
  }
  for (const auto& [key, value] : b)
    if (!a.count(key)) diffs.push_back(fmt::format("{} not set there, {} now", key, value));
  std::string out;
  for (std::size_t i = 0; i < diffs.size() && i < 3; ++i) out += (i ? "; " : "") + diffs[i];
  if (diffs.size() > 3) out += fmt::format(" (and {} more)", diffs.size() - 3);
  return out;
}

Previous read_previous(const std::filesystem::path& csv, const std::string& header, const SweepAxes& axes,
                       const std::function<std::string(std::size_t)>& hash_now, unsigned jobs,
                       const std::function<std::string()>& explain) {
  Previous prev;
  std::string text;
  {
    std::ifstream in(csv, std::ios::binary);
    if (!in) throw Error(fmt::format("cannot read {}", csv.string()));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  bool rewrite = false;
  if (!text.empty() && text.back() != '\n') {
    text.erase(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
    rewrite = true;
  }
  if (text.empty()) {  // created but nothing written yet
    replace_file(csv, header);
    return prev;
  }
  const std::string restart = "pass --restart to discard its rows and start over, or another -o";
  std::istringstream lines(text);
  std::string line;
  std::getline(lines, line);
  if (line + "\n" != header)
    throw InputError(
        fmt::format("{}: its header is not this sweep's, so --resume cannot continue it (the --vary and --zip keys "
                    "must be the same, in the same order)\n  found:    {}\n  expected: {}\n{}",
                    csv.string(), line, header.substr(0, header.size() - 1), restart));
  std::string kept = line + "\n";
  const std::size_t keys = axes.keys().size();
  const std::size_t status_col = keys + 1, build_col = status_col + std::size(kMetrics) + 2, hash_col = build_col + 1,
                    columns = hash_col + 2;
  const std::string build = sweep_build();
  struct HashCheck {
    std::size_t line, id;
    std::string recorded, now;
  };
  std::vector<HashCheck> checks;
  for (std::size_t no = 2; std::getline(lines, line); ++no) {
    const std::vector<std::string> f = io::split_csv(line, io::CsvSpaces::keep);
    std::size_t id = 0;
    const bool number = !f[0].empty() && f[0].size() < 19 &&
                        f[0].find_first_not_of("0123456789") == std::string::npos &&
                        (id = std::stoull(f[0]), id < axes.runs());
    const auto status = std::find_if(std::begin(kStatuses), std::end(kStatuses), [&](RunStatus s) {
      return f.size() == columns && f[status_col] == status_name(s);
    });
    if (!number || f.size() != columns || status == std::end(kStatuses))
      throw InputError(fmt::format("{}:{}: not a row of this sweep (run_id '{}' of {} runs, {} fields of {})",
                                   csv.string(), no, f[0], axes.runs(), f.size(), columns));
    // The same keys with other values would give the run_ids another meaning.
    const std::vector<std::string> values = axes.values(id);
    for (std::size_t k = 0; k < keys; ++k)
      if (f[k + 1] != values[k])
        throw InputError(
            fmt::format("{}:{}: run {} has {}={}, but in this sweep it is {}; pass the same --vary and "
                        "--zip values to resume, or another -o",
                        csv.string(), no, id, axes.keys()[k], f[k + 1], values[k]));
    ++prev.rows;
    if (*status == RunStatus::timeout) {  // no result: done again (perhaps with a longer --run-timeout)
      ++prev.retried;
      rewrite = true;
      continue;
    }
    if (f[build_col] != build)
      throw InputError(
          fmt::format("{}:{}: run {} was written by moesim {}, this is moesim {}; results may differ "
                      "between builds, so --resume does not mix them: resume with that build, or {}",
                      csv.string(), no, id, f[build_col], build, restart));
    checks.push_back({no, id, f[hash_col], {}});
    kept += line + "\n";
    if (prev.done.insert(id).second) {
      if (*status == RunStatus::error) ++prev.errors;
      if (*status == RunStatus::infeasible) ++prev.infeasible;
    }
  }
  // Each run's hash now means loading its scenario (about a millisecond): on worker threads.
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < std::min<std::size_t>(std::max(1u, jobs), checks.size()); ++t)
    threads.emplace_back([&] {
      for (std::size_t i; (i = next.fetch_add(1)) < checks.size();) checks[i].now = hash_now(checks[i].id);
    });
  for (std::thread& t : threads) t.join();
  for (const HashCheck& c : checks) {
    if (c.recorded == c.now) continue;
    const std::string what = explain();
    throw InputError(fmt::format(
        "{}:{}: run {} was written for another scenario (resolved scenario hash {}, now {}): {}; resume with the "
        "same scenario and --set values, or {}",
        csv.string(), c.line, c.id, c.recorded, c.now,
        what.empty() ? "the scenario file, a --set value or a file they name has changed" : "in run 0, " + what,
        restart));
  }
  if (rewrite) replace_file(csv, kept);
  return prev;
}

}  // namespace moesim::cli
