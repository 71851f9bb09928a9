#!/usr/bin/env bash
# Measures the benchmark workloads of bench/bench_workloads.cpp and writes BENCHMARKS.md: the
# machine, commit, date, compiler and build type; how the figures are taken and how to compare two
# builds; and the figures of this run (min-max over the repetitions), with callgrind's instruction
# and branch counts when valgrind is installed.
#
# Usage: bench/report.sh [--build-dir DIR] [--reps N] [--steps N] [--cpu N] [--no-callgrind] [--out FILE]
#   --build-dir DIR  a Release build directory (also BUILD_DIR=DIR); configured here when it has no
#                    CMakeCache.txt; bench_workloads is (re)built in it. Default: build-bench/
#   --reps N         repetitions of every workload (default 5)
#   --steps N        steps for every workload instead of their defaults (a quick check of the script)
#   --cpu N          pin the runs to CPU N (taskset)
#   --no-callgrind   leave the instruction counts out
#   --out FILE       default: BENCHMARKS.md in the source tree
# With the defaults it takes about 6 minutes of CPU time on one core (plus a build).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$src/build-bench}
reps=5
steps=0
cpu=""
callgrind=1
out=$src/BENCHMARKS.md
usage() { sed -n '7,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=${2:?}; shift 2 ;;
    --reps) reps=${2:?}; shift 2 ;;
    --steps) steps=${2:?}; shift 2 ;;
    --cpu) cpu=${2:?}; shift 2 ;;
    --no-callgrind) callgrind=0; shift ;;
    --out) out=${2:?}; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "report.sh: unknown argument $1" >&2; usage ;;
  esac
done
[[ "$reps" =~ ^[1-9][0-9]*$ ]] || { echo "report.sh: --reps needs a positive integer" >&2; exit 2; }
[[ "$steps" =~ ^[0-9]+$ ]] || { echo "report.sh: --steps needs an integer" >&2; exit 2; }
case "$out" in /*) ;; *) out=$PWD/$out ;; esac

# Build (Release; figures from other build types are not comparable).
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMOESIM_CALIBRATE=OFF >&2
fi
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1; }
build_type=$(cache CMAKE_BUILD_TYPE)
if [ "$build_type" != Release ]; then
  echo "report.sh: $build is a '${build_type:-default}' build; benchmark figures come from Release builds" >&2
  exit 2
fi
cmake --build "$build" -j"$(nproc)" --target bench_workloads >&2
bin=$build/bench_workloads
[ -x "$bin" ] || { echo "report.sh: no $bin after the build" >&2; exit 1; }
run=()
[ -n "$cpu" ] && run=(taskset -c "$cpu")

# What the figures belong to.
cxx=$(cache CMAKE_CXX_COMPILER)
compiler=$("$cxx" --version 2>/dev/null | head -n 1 || echo "$cxx")
lto=$(cache MOESIM_LTO)
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
cpus_total=$(grep -c '^processor' /proc/cpuinfo)
mem_GiB=$(awk '/^MemTotal:/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)
if commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null); then
  [ -n "$(git -C "$src" status --porcelain 2>/dev/null)" ] && commit="$commit+dirty"
else
  commit=unknown
fi
start_utc=$(date -u '+%Y-%m-%d %H:%M')
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# The runs: every repetition runs every workload in every mode, each in its own process.
raw=$(mktemp)
trap 'rm -f "$raw" "$raw.cg" "$raw.cg.log"' EXIT
step_args=()
[ "$steps" -gt 0 ] && step_args=(--steps "$steps")
for ((r = 1; r <= reps; ++r)); do
  echo "report.sh: repetition $r of $reps" >&2
  "${run[@]}" "$bin" "${step_args[@]}" --source-dir "$src" | tee -a "$raw" >&2
done

# Instruction counts: one process, no fork (--child), the decode workload.
cg_rows=""
if [ "$callgrind" = 1 ] && command -v valgrind >/dev/null; then
  for spec in "flow 1" "analytic 2"; do
    read -r mode n <<<"$spec"
    echo "report.sh: callgrind, decode $mode, $n step(s)" >&2
    if ! valgrind --tool=callgrind --branch-sim=yes --callgrind-out-file="$raw.cg" \
      "$bin" --child --only decode-nvl72-ep72 --mode "$mode" --steps "$n" --source-dir "$src" >/dev/null 2>"$raw.cg.log"; then
      tail -n 5 "$raw.cg.log" >&2
      echo "report.sh: callgrind failed; the report leaves its counts out" >&2
      cg_rows=""
      break
    fi
    # The totals by event name: instructions (Ir), conditional branches (Bc), mispredicted (Bcm).
    cg_rows+=$(awk -v mode="$mode" -v n="$n" '
      /^events:/ { for (i = 2; i <= NF; ++i) col[$i] = i }
      /^summary:/ { printf "| decode-nvl72-ep72 | %s | %s | %.3f G | %.1f M | %.2f M |", mode, n,
                      $col["Ir"] / 1e9, $col["Bc"] / 1e6, $col["Bcm"] / 1e6 }' "$raw.cg")$'\n'
  done
fi
end_utc=$(date -u '+%H:%M')
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# min-max over the repetitions, per workload and mode.
table=$(awk '
  # Three significant digits, trailing zeros kept (bench_workloads prints rates to three).
  function sig3(v,   d) {
    if (v <= 0) return "0"
    d = 2 - int(log(v) / log(10) + (v < 1 ? -0.999999 : 0))
    return sprintf("%." (d < 0 ? 0 : d) "f", v)
  }
  # "lo-hi unit", or one value when both print the same.
  function range(k, scale, fmt, unit,   a, b) {
    if (!(k in lo)) return "-"
    a = fmt == "sig3" ? sig3(lo[k] / scale) : sprintf(fmt, lo[k] / scale)
    b = fmt == "sig3" ? sig3(hi[k] / scale) : sprintf(fmt, hi[k] / scale)
    return (a == b ? a : a "-" b) unit
  }
  function note(k, v) {
    if (v == "-" ) return
    v += 0
    if (!(k in lo) || v < lo[k]) lo[k] = v
    if (!(k in hi) || v > hi[k]) hi[k] = v
  }
  $1 ~ /^(decode|prefill)-/ && NF >= 11 {
    key = $1 " " $2
    if (!(key in seen)) { seen[key] = 1; order[++n] = key; steps[key] = $3 }
    runs[key]++
    note(key " cpu", $5)
    if ($2 != "flow-model") { note(key " asg", $6); note(key " ev", $8); note(key " p50", $11) }
    note(key " fl", $7); note(key " flows", $9); note(key " rss", $10)
  }
  END {
    for (i = 1; i <= n; ++i) {
      k = order[i]; split(k, w, " ")
      printf "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", w[1], w[2], steps[k], runs[k],
        range(k " cpu", 1, "%.2f", ""), range(k " asg", 1e6, "sig3", " M"), range(k " fl", 1e6, "sig3", " M"),
        range(k " ev", 1e6, "sig3", " M"), range(k " rss", 1, "%.0f", ""), range(k " flows", 1, "%d", ""),
        range(k " p50", 1, "%.1f", "")
    }
  }' "$raw")
[ -n "$table" ] || { echo "report.sh: bench_workloads printed no rows" >&2; exit 1; }
# Serving rows: name mode simulated wall cpu requests steps interpolated memo_p99 ttft_p90 tpot_p90 rss.
serve_table=$(awk '
  function range(k, fmt,   a, b) {
    a = sprintf(fmt, lo[k]); b = sprintf(fmt, hi[k])
    return a == b ? a : a "-" b
  }
  function note(k, v) {
    v += 0
    if (!(k in lo) || v < lo[k]) lo[k] = v
    if (!(k in hi) || v > hi[k]) hi[k] = v
  }
  $1 ~ /^serve-/ && NF >= 12 {
    key = $1
    if (!(key in seen)) { seen[key] = 1; order[++n] = key }
    ++runs[key]
    note(key " cpu", $5); note(key " rss", $12); note(key " req", $6); note(key " steps", $7)
    note(key " sim", $3); note(key " int", $8); note(key " err", $9); note(key " ttft", $10); note(key " tpot", $11)
  }
  END {
    for (i = 1; i <= n; ++i) {
      k = order[i]
      printf "| %s | %d | %s | %s | %s | %s | %s | %s | %s%% | %s | %s |\n", k, runs[k], range(k " cpu", "%.2f"),
        range(k " rss", "%.0f"), range(k " req", "%d"), range(k " steps", "%d"), range(k " sim", "%d"),
        range(k " int", "%d"), range(k " err", "%.2f"), range(k " ttft", "%.1f"), range(k " tpot", "%.2f")
    }
  }' "$raw")
step_note="each workload's default steps"
[ "$steps" -gt 0 ] && step_note="--steps $steps for every workload (a short run, not the default)"
pin_note="not pinned"
[ -n "$cpu" ] && pin_note="pinned to CPU $cpu"

# Sections taken by hand (the SimGrid cross-check) follow a marker line; they are kept as they are.
marker='<!-- hand-written: bench/report.sh keeps everything from this line on -->'
kept=""
[ -f "$out" ] && kept=$(awk -v m="$marker" '$0 == m { on = 1 } on' "$out")

{
  cat <<EOF
# Benchmarks

Written by \`bench/report.sh\`; do not edit by hand. Regenerate with \`bench/report.sh\` (options:
\`bench/report.sh --help\`).

| | |
|---|---|
| machine | $cpu_model, $cpus_total logical CPUs ($(nproc) available), $mem_GiB GiB |
| commit | $commit |
| date | $start_utc-$end_utc UTC |
| compiler | $compiler |
| build | $build_type, MOESIM_LTO=${lto:-unset} |
| runs | $reps repetitions, $step_note, $pin_note |
| load average | $load_start at the start, $load_end at the end |

## Method

\`bench_workloads\` (\`bench/bench_workloads.cpp\`) runs fixed workloads end to end on one core:
the scenario is loaded, simulated and summarised through the same path as \`moesim run\` (no
result files are written, no timeline or link activity is recorded). Each workload and network mode runs in a
process of its own, so each peak RSS belongs to one of them alone.

| workload | scenario | what | default steps |
|---|---|---|---|
| \`decode-nvl72-ep72\` | \`scenarios/default.toml\` | DeepSeek-V3 decode on one GB200 NVL72 rack, EP72, 128 tokens per GPU, 58 MoE layers, Zipf 0.6 routing | 50 |
| \`prefill-hgx4-ep32\` | \`scenarios/hgx-prefill.toml\`, \`overlap.mode = "none"\` | DeepSeek-V3 prefill, EP32 on four HGX H100 nodes, 4096 tokens per GPU, one micro-batch | 10 |
| \`decode-x29-ep2048\` | \`scenarios/default.toml\`, 29 NVL72 racks (\`bench/gb200-nvl72-x29.toml\`), Zipf 0.6 | DeepSeek-V3 decode at EP2048, analytic only | 1 |
| \`serve-nvl72-1h\` | \`scenarios/serve-nvl72.toml\`, \`serving.duration_s = 3600\` | an hour of Poisson traffic at 3,000 requests per minute on one NVL72 rack, EP72, analytic only | - |

Network modes: \`analytic\` and \`flow\` set \`network.model\`. \`flow-model\` times the flow model
alone: the flow-mode run is recorded (every collective declared, flow started, step cleared) and
replayed open loop through a fresh \`FlowModel\` (\`bench/flow_replay.hpp\`); the replay must deliver
every flow of the run and makes as many max-min solves. Its CPU seconds and flows per second are
the replay's; its peak RSS is mostly the record. It records 10 steps at most unless \`--steps\`
says otherwise.

Columns (each cell the minimum-maximum over the repetitions; rates to three significant digits, as
\`bench_workloads\` prints them):

- **CPU s**: the process's CPU time for load, simulation and summary (\`flow-model\`: the replay).
- **assignments / CPU s**: token-to-expert assignments simulated (tokens x top_k, summed over MoE
  layers and steps) per CPU second.
- **flow completions / CPU s**: network flows delivered per CPU second.
- **events / CPU s**: discrete events processed per CPU second.
- **peak RSS MiB**: the process's maximum resident set (\`getrusage\`).
- **flows**, **step p50 us**: the number of flows and the simulated median step time. They are
  results, not speeds: equal in every repetition, and equal between two builds that simulate the
  same thing.

Prefill's flows per second are bounded by per-token work (gating and planning millions of
token-expert assignments), not by the network.

### Comparing two builds

The figures depend on the machine and on what else runs on it. On a shared virtual machine the
same binary's speed drifts by tens of percent within minutes, so a table taken at one time does not
compare with a table taken at another. To tell whether a change made the simulator faster:

1. Check that it changed no result: \`tools/compare_builds.sh OLD/moesim NEW/moesim\` runs every
   shipped scenario in both network modes, plus variants, with both binaries and compares the
   result files byte for byte.
2. Alternate runs of the two builds, so that both see the same drift, and take the ratio of each
   pair's CPU seconds; report the median and the range of the ratios:

   \`\`\`sh
   for i in \$(seq 10); do
     for b in old new; do
       build-\$b/bench_workloads --only decode-nvl72-ep72 --mode flow | awk -v b=\$b '\$1 ~ /^decode/ { print b, \$5 }'
     done
   done
   \`\`\`

3. Count instructions and mispredicted branches, which do not drift with the machine's load.
   \`--child\` runs one workload in the calling process (without it the program forks one process
   per workload):

   \`\`\`sh
   valgrind --tool=callgrind --branch-sim=yes --callgrind-out-file=cg.new \\
     build-new/bench_workloads --child --only decode-nvl72-ep72 --mode flow --steps 1
   callgrind_annotate cg.new | head -n 40
   \`\`\`

\`bench_gate_plan\` (gate and layer planning alone) and \`bench_trace_replay\` (trace decoding) are
further benchmark programs; this report does not run them.

## Figures

| workload | network | steps | runs | CPU s | assignments / CPU s | flow completions / CPU s | events / CPU s | peak RSS MiB | flows | step p50 us |
|---|---|---|---|---|---|---|---|---|---|---|
$table
EOF
  if [ -n "$serve_table" ]; then
    cat <<EOF

Serving (each cell the minimum-maximum over the repetitions): CPU seconds of the whole run; the
steps simulated in full by the step engine, the new batch shapes interpolated between them, and
the memo's p99 error on 100 re-simulated steps; TTFT and TPOT are results (equal in every run).

| workload | runs | CPU s | peak RSS MiB | requests | steps | simulated in full | interpolated | memo error p99 | TTFT p90 ms | TPOT p90 ms |
|---|---|---|---|---|---|---|---|---|---|---|
${serve_table}
EOF
  fi
  if [ -n "$cg_rows" ]; then
    cat <<EOF

Callgrind, whole process (scenario loading included), same build:

| workload | network | steps | instructions | conditional branches | mispredicted (callgrind's model) |
|---|---|---|---|---|---|
${cg_rows%$'\n'}
EOF
  fi
  [ -z "$kept" ] || printf '\n%s\n' "$kept"
} >"$out.tmp"
mv "$out.tmp" "$out"
echo "report.sh: wrote $out" >&2
