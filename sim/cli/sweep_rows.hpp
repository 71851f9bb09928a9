#pragma once
// sweep.csv: a header, then one row per finished run: run_id, the swept values, status, summary
// metrics, wall_s, the build that ran it, the hash of its resolved scenario, error. Reading it
// back for --resume checks every row still belongs to this sweep, this scenario and this build.
#include <cstddef>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <string_view>

#include "cli/sweep_axes.hpp"
#include "report/metrics.hpp"

namespace moesim::cli {

// ok: the run's metrics; infeasible: the configuration does not fit (an answer, not a failure);
// error: bad input or a failure; timeout: stopped at --run-timeout.
enum class RunStatus { ok, error, infeasible, timeout };
std::string_view status_name(RunStatus status);

// This binary, as recorded per row: "VERSION+COMMIT" (the commit checked out at configure time).
std::string sweep_build();
// FNV-1a (64 bit) of `text`, as 16 hex digits: stable across builds and machines.
std::string text_hash(std::string_view text);

// `serving`: the swept scenario has [serving]; its rows add the request-level metrics.
std::string header_line(const SweepAxes& axes, bool serving);
// One run's row; `summary` is read only when status is ok.
std::string format_row(const SweepAxes& axes, std::size_t id, RunStatus status, const Summary* summary, double wall_s,
                       const std::string& scenario_hash, const std::string& error, bool serving);

// The keys whose values differ between two resolved scenarios (TOML as io::scenario_to_toml
// writes it), e.g. "workload.steps = 3 there, 2 now"; at most three, empty when none differ.
std::string toml_difference(std::string_view there, std::string_view now);

// What an existing sweep.csv already holds.
struct Previous {
  std::set<std::size_t> done;  // runs with a row that stays: ok, error or infeasible
  std::size_t rows = 0;        // rows read
  std::size_t errors = 0;      // error rows among done
  std::size_t infeasible = 0;  // infeasible rows among done
  std::size_t retried = 0;     // timeout rows dropped from the file: those runs are done again
};

// Reads `csv` for --resume. Drops a last line cut short (no newline) and timeout rows by rewriting
// the file (atomically), so those runs are done again rather than lost or doubled. Throws
// InputError naming the file, line and what differs when the header, a row's swept values, its
// build or its scenario hash (`hash_now(id)`: the hash run `id` has now, called on `jobs`
// threads) is not this sweep's; a build that differs is named before a scenario that does, and
// `explain()` then says what differs (or returns "" when it cannot tell).
Previous read_previous(const std::filesystem::path& csv, const std::string& header, const SweepAxes& axes,
                       const std::function<std::string(std::size_t)>& hash_now, unsigned jobs,
                       const std::function<std::string()>& explain);

}  // namespace moesim::cli
