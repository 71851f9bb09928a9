#!/usr/bin/env bash
# Installs the Debian packages moesim needs, only those missing. Runs apt-get as root (or via sudo).
set -euo pipefail
packages=(build-essential cmake libfmt-dev libtomlplusplus-dev libboost-graph-dev catch2 libcli11-dev
          nlohmann-json3-dev python3 python3-matplotlib libopenmpi-dev openmpi-bin
          libsimgrid-dev)  # SimGrid: the flow model's cross-check (bench_simgrid_check, optional)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all packages present"
  exit 0
fi
echo "install_deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
