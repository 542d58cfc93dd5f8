#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, then run leap's benchmarks and train a tiny GPT.
# (The end-to-end versus pipeline comparison becomes the main job when `leap compare` lands.)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/install_deps.sh
export PATH=$PATH:/usr/local/cuda/bin
cuda=OFF
if command -v nvcc > /dev/null 2>&1; then cuda=ON; fi
tools/build.sh build -DLEAP_CUDA=$cuda
build/train/leap bench --device cpu
build/train/leap demo
