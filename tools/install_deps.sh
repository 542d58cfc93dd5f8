#!/usr/bin/env bash
# Installs the Debian packages leap builds and tests with, when any is missing. Needs root (or sudo) only then.
set -euo pipefail
packages=(cmake ninja-build gcc g++ pkg-config libomp-dev
          libopenblas0-openmp libopenblas-openmp-dev
          libhdf5-dev libfyaml-dev libopenmpi-dev openmpi-bin zlib1g-dev libdeflate-dev
          python3 python3-numpy python3-torch python3-h5py)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "leap: installing ${missing[*]}"
sudo_cmd=""
if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
$sudo_cmd apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
