#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) and runs each for a bounded time:
#   tools/fuzz.sh [SECONDS_PER_TARGET=60] [TARGET...]
# Seeds come from fuzz/corpus/<target>/; new inputs go to build-fuzz/corpus/<target>/, crashes to
# build-fuzz/findings/. Prints the executions each target survived.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(scenario simulate topology profile trace request_trace import_rows import_npy import_counts)
CXX=clang++ CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOESIM_FUZZ=ON -DMOESIM_MPI=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")
mkdir -p build-fuzz/findings
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  log="build-fuzz/fuzz_$t.log"
  if ./build-fuzz/fuzz_$t "build-fuzz/corpus/$t" "fuzz/corpus/$t" -max_total_time="$seconds" -timeout=20 \
      -rss_limit_mb=4096 -artifact_prefix="build-fuzz/findings/${t}-" >"$log" 2>&1; then
    echo "fuzz_$t: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -1), no finding"
  else
    status=1
    echo "fuzz_$t: FINDING, see $log and build-fuzz/findings/"
  fi
done
exit $status
