#!/usr/bin/env bash
# The GPU runs the calibration still owes, as one script for a short loan of one H100 or H200:
# the kernels' checks against their CPU references first (attention, fp8 experts, the MoE
# kernels), then the fp8 expert and attention sweeps, then validate on the held-out grid (token
# counts between the fitted ones, Zipf 0.3 / 0.9, a log-normal gate, 8- and 32-expert slices).
# Every step has its own time limit and a failed step does not stop the later ones; the console
# output goes to calibrate.log beside the measurement files, which `moesim-fit` then turns into
# the profiles (calibrate/README.md, "The GPU run sequence").
#
# usage: tools/gpu_calibration_run.sh OUT_DIR [checks+sweeps | validate | all]
#   The parts fit a device call of 10 minutes each (their step limits add up to 9.5 and 6 minutes);
#   `all` (the default) runs both. The log is appended to, so the parts can share OUT_DIR.
# environment:
#   CALIBRATOR      moesim-calibrate to run (default build-gpu/calibrate/moesim-calibrate: build it
#                   where a compiler is, e.g. cmake -S . -B build-gpu -DMOESIM_CALIBRATE=ON
#                   -DCMAKE_BUILD_TYPE=Release && cmake --build build-gpu --target moesim-calibrate)
#   PROFILE_PREFIX  shipped profiles validate predicts with (default: h100-sxm, or h200 on an H200)
set -uo pipefail
out=${1:?usage: tools/gpu_calibration_run.sh OUT_DIR [checks+sweeps | validate | all]}
part=${2:-all}
case "$part" in checks+sweeps | validate | all) ;; *) echo "gpu_calibration_run: unknown part \"$part\"" >&2; exit 2 ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)
cal=${CALIBRATOR:-$src/build-gpu/calibrate/moesim-calibrate}
[ -x "$cal" ] || { echo "gpu_calibration_run: no calibrator at $cal" >&2; exit 2; }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
prefix=${PROFILE_PREFIX:-$([[ "$gpu" == *H200* ]] && echo h200 || echo h100-sxm)}
profiles=$src/calibrate/profiles
mkdir -p "$out"
log=$out/calibrate.log
failed=0

# step SECONDS NAME ARGS...: runs the calibrator with a time limit, logged.
step() {
  local limit=$1 name=$2
  shift 2
  echo "== $name: $cal $*" | tee -a "$log"
  local start=$SECONDS
  timeout "$limit" "$cal" "$@" 2>&1 | tee -a "$log" >/dev/null
  local rc=${PIPESTATUS[0]}
  echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$log"
  [ "$rc" -eq 0 ] || failed=$((failed + 1))
}

echo "gpu: $gpu; profiles: $prefix; part $part; $(date -u +%FT%TZ)" | tee -a "$log"
if [ "$part" != validate ]; then
  # Correctness first, on small shapes (what the ctest entries labelled gpu run).
  step 60 check check
  step 40 check-attention-qwen3 attention --model qwen3-30b-a3b --batch 3 --context 700 --chunk 200 \
    --prefill-context 300 --repeats 3 --warmup 1
  step 50 check-attention-dsv3 attention --model deepseek-v3 --batch 2 --context 1000 --chunk 130 \
    --prefill-context 0 --repeats 3 --warmup 1
  step 50 check-fp8 kernels --model qwen3-30b-a3b --precision fp8 --tokens 256 --expert-calls 16 --repeats 3
  # The sweeps the profiles are owed: fp8 experts (deepseek-v3) and attention (both models).
  step 130 kernels-fp8-dsv3 kernels --model deepseek-v3 --precision fp8 --repeats 20 \
    --out "$out/kernels-dsv3-fp8.json"
  step 110 attention-dsv3 attention --model deepseek-v3 --repeats 20 --out "$out/attention-dsv3.json"
  step 70 attention-qwen3 attention --model qwen3-30b-a3b --repeats 20 --out "$out/attention-qwen3.json"
  # Between the fitted points, for moesim-fit --check-attention (held out).
  step 60 attention-dsv3-between attention --model deepseek-v3 --repeats 10 --batch 2,8,32,128 \
    --context 1024,4096,16384 --chunk 256,1024,4096 --prefill-context 4096 --out "$out/attention-dsv3-between.json"
fi
if [ "$part" != checks+sweeps ]; then
  # Held-out layers against the shipped profiles (the default grid: 48 / 384 / 1536 / 3000 tokens,
  # Zipf 0.3 / 0.9, lognormal:1, 8- and 32-expert slices).
  step 200 validate-dsv3 validate --profile "$profiles/$prefix.toml" --models deepseek-v3 --repeats 20 \
    --csv "$out/validate-dsv3.csv" --out "$out/validate-dsv3.json"
  step 150 validate-qwen3 validate --profile "$profiles/$prefix.qwen3-30b-a3b.toml" --models qwen3-30b-a3b \
    --repeats 20 --csv "$out/validate-qwen3.csv" --out "$out/validate-qwen3.json"
fi
echo "gpu_calibration_run: $failed step(s) failed; files in $out" | tee -a "$log"
exit $((failed > 0))
