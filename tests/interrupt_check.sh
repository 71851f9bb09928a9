#!/usr/bin/env bash
# `moesim run` and Ctrl-C: SIGINT ends the run after the step in progress, writes the completed
# steps marked partial in summary.json, and exits 130.  Usage: interrupt_check.sh MOESIM SRC WORK
set -euo pipefail
moesim=$1 src=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
# Far more steps than run in the time below (smoke runs thousands of steps a second).
"$moesim" run "$src/scenarios/smoke.toml" --set workload.steps=1000000 --set output.timeline_steps=0 \
  --out "$work/out" >"$work/stdout" 2>"$work/stderr" &
pid=$!
sleep 1.5
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
fail() { echo "interrupt_check: $*"; echo "--- stdout"; cat "$work/stdout"; echo "--- stderr"; cat "$work/stderr"; exit 1; }
[ "$rc" -eq 130 ] || fail "exit status $rc, expected 130"
grep -q '"partial"' "$work/out/summary.json" || fail "summary.json is not marked partial"
grep -q '"steps_requested": 1000000' "$work/out/summary.json" || fail "summary.json lacks steps_requested"
grep -q 'PARTIAL: interrupted after' "$work/stdout" || fail "the summary does not say it is partial"
grep -q 'interrupted: .* of 1000000 steps written' "$work/stderr" || fail "stderr does not say what was written"
echo "interrupt_check: ok ($(grep -o 'after [0-9]* of' "$work/stdout"))"
