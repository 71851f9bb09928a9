#!/usr/bin/env bash
# Checks that includes between the modules of sim/ point down the layers of the design
# (core <- spec <- net, gpu, trace <- moe <- comm <- engine <- serve <- report <- io <- app <- cli), that
# TOML++ and nlohmann/json stay in io/ and Boost in net/, and that nothing in sim/ includes CUDA
# or NCCL. Prints each violation as file:line and exits 1 when there is one. Run as a ctest test.
set -euo pipefail
src=$(cd "${1:-$(dirname "$0")/..}" && pwd)
cd "$src/sim"
# What each module may include besides itself.
declare -A allowed=(
  [core]=""
  [spec]="core"
  [net]="core spec"
  [gpu]="core spec"
  [trace]="core spec"
  [moe]="core spec trace"
  [comm]="core spec net gpu trace moe"
  [engine]="core spec net gpu trace moe comm"
  [serve]="core spec net gpu trace moe comm engine"
  [report]="core spec net gpu trace moe comm engine serve"
  [io]="core spec net gpu trace moe comm engine serve report"
  [app]="core spec net gpu trace moe comm engine serve report io"
  [cli]="core spec net gpu trace moe comm engine serve report io app"
)
bad=0
for dir in */; do
  m=${dir%/}
  if [ -z "${allowed[$m]+set}" ]; then
    echo "sim/$m: a module the layering check does not know; add it to tools/check_layers.sh"; bad=1; continue
  fi
  while IFS=: read -r file line text; do
    inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]([^">]+)[">].*/\1/' <<<"$text")
    case "$inc" in
      toml++/*|nlohmann/*) [ "$m" = io ] || { echo "sim/$file:$line: $inc outside io/"; bad=1; } ;;
      boost/*) [ "$m" = net ] || { echo "sim/$file:$line: $inc outside net/"; bad=1; } ;;
      cuda*|nccl*|cublas*|cuda_runtime*) echo "sim/$file:$line: $inc in the simulator"; bad=1 ;;
      */*)
        t=${inc%%/*}
        [ -n "${allowed[$t]+set}" ] || continue  # a system header with a directory
        if [ "$t" != "$m" ] && [[ " ${allowed[$m]} " != *" $t "* ]]; then
          echo "sim/$file:$line: $m includes $inc ($t is not below $m)"; bad=1
        fi ;;
      *)
        if [[ "$text" == *'"'* ]]; then echo "sim/$file:$line: include \"$inc\" names no module"; bad=1; fi ;;
    esac
  done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include' "$m" || true)
done
if [ $bad -ne 0 ]; then echo "check_layers: includes that point up the layers (see ../shared/DESIGN.md)"; exit 1; fi
echo "check_layers: every include in sim/ points down the layers"
