#!/usr/bin/env bash
# Runs every shipped scenario (both network modes, and a few variants) with two moesim binaries and
# compares their result directories byte for byte (plots excluded). For changes that must not move
# any result: tools/compare_builds.sh OLD_MOESIM NEW_MOESIM [WORKDIR]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_MOESIM NEW_MOESIM [WORKDIR]" >&2; exit 2; }
old=$(realpath "$1"); new=$(realpath "$2")
src=$(cd "$(dirname "$0")/.." && pwd)
work=${3:-$(mktemp -d)}
mkdir -p "$work"
runs=()
for s in "$src"/scenarios/*.toml; do
  for mode in flow analytic; do
    runs+=("$(basename "$s" .toml)-$mode|$s|--set workload.steps=2 --set network.model=$mode")
  done
done
d="$src/scenarios/default.toml"; p="$src/scenarios/hgx-prefill.toml"
runs+=("default-exact|$d|--set workload.steps=2 --set network.model=flow --set network.resolve_tolerance=0")
runs+=("default-zipf3|$d|--set workload.steps=2 --set gate.kind=zipf --set gate.zipf_exponent=3")
runs+=("default-redundant|$d|--set workload.steps=2 --set placement.kind=redundant --set placement.redundant_slots=32")
runs+=("default-greedy-rebalance|$d|--set workload.steps=3 --set placement.kind=greedy --set placement.rebalance_every_steps=1")
runs+=("default-from-file|$d|--set workload.steps=2 --set placement.kind=from_file")
runs+=("default-nodedup|$d|--set workload.steps=2 --set network.dedup=false")
runs+=("prefill-2mb-flow|$p|--set workload.steps=2 --set overlap.mode=two_microbatch --set network.model=flow --set output.timeline_steps=2")
runs+=("prefill-2mb-analytic|$p|--set workload.steps=2 --set overlap.mode=two_microbatch --set network.model=analytic")
# A scenario with faults (paths made absolute, as the copy lives in the work directory), and a
# placement read from a file (the one the greedy run above wrote).
sed -e "s|\"\.\./|\"$src/|" "$src/scenarios/two-racks.toml" >"$work/faulted.toml"
cat >>"$work/faulted.toml" <<'TOML'
[[faults]]
kind = "slow_gpu"
gpu = 5
compute_factor = 1.3
[[faults]]
kind = "gpu_down"
gpu = 70
TOML
runs+=("two-racks-faults-flow|$work/faulted.toml|--set workload.steps=2 --set network.model=flow")
runs+=("two-racks-faults-analytic|$work/faulted.toml|--set workload.steps=2 --set network.model=analytic")
fail=0
for r in "${runs[@]}"; do
  IFS='|' read -r name scen args <<<"$r"
  [ "$name" = default-from-file ] && args+=" --set placement.file=$work/old/default-greedy-rebalance/placement.toml"
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    # shellcheck disable=SC2086
    (cd "$work" && "$bin" run "$scen" $args -q -o "$work/$which/$name" >"$work/$which-$name.out" 2>&1) || echo "exit $? ($which $name)" >>"$work/$which-$name.out"
  done
  if diff -r -x '*.png' "$work/old/$name" "$work/new/$name" >/dev/null && diff -q "$work/old-$name.out" "$work/new-$name.out" >/dev/null; then
    echo "same  $name"
  else
    echo "DIFF  $name"; fail=1
  fi
done
[ $fail -eq 0 ] && echo "compare_builds: all ${#runs[@]} runs identical" || { echo "compare_builds: differences in $work"; exit 1; }
