#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, build, generate the robot data if absent, and compare
# an end-to-end model with a pipeline of separately trained stages on it (leap compare configs/robot.yaml), on the
# GPU when there is one, else on the CPU. The report lands in runs/robot/ (report.md, report.html, report.json).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/install_deps.sh
export PATH=$PATH:/usr/local/cuda/bin
cuda=OFF
if command -v nvcc > /dev/null 2>&1; then cuda=ON; fi
tools/build.sh build -DLEAP_CUDA=$cuda
build/train/leap compare configs/robot.yaml "$@"
