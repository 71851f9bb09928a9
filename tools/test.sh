#!/usr/bin/env bash
# Builds and runs the CPU test suite (everything but the ctest label "gpu"), warnings as errors,
# then again under AddressSanitizer + UndefinedBehaviorSanitizer. Installs missing packages first.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install_deps.sh
jobs=$(nproc)
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOESIM_WERROR=ON
cmake --build build-test -j"$jobs"
ctest --test-dir build-test -LE gpu -j"$jobs" --output-on-failure
# OpenMPI's own allocations trip LeakSanitizer, so the sanitizer build leaves MPI out; the CUDA
# calibrator (built above when nvcc and NCCL are found) is host-compiled by nvcc, which takes no
# sanitizer flags, and its CPU side is covered by calibrate_cpu_tests either way.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DMOESIM_SANITIZE=ON -DMOESIM_WERROR=ON -DMOESIM_MPI=OFF \
  -DMOESIM_CALIBRATE=OFF
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -LE gpu -j"$jobs" --output-on-failure
echo "test.sh: all CPU tests passed (plain and ASan+UBSan)"
