#!/usr/bin/env bash
# Fresh machine to first result: installs what is missing, builds, runs the default scenario
# (DeepSeek-V3 decode on a GB200 NVL72 rack) and draws its plots into results/default/.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)" --target moesim
./build/moesim run scenarios/default.toml -o results/default
py=$(./tools/python_with_matplotlib.sh)
"$py" plots/step_breakdown.py results/default -o results/default/step_breakdown.png
"$py" plots/hotspot_heatmap.py results/default -o results/default/hotspot_heatmap.png
echo "plots: results/default/step_breakdown.png results/default/hotspot_heatmap.png"
echo "timeline: open results/default/timeline.json in https://ui.perfetto.dev"
