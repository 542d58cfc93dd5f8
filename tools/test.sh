#!/usr/bin/env bash
# Builds leap and runs every test: the release build (with the CUDA code compiled when nvcc is present; GPU tests
# skip without a device), then the AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/install_deps.sh
cuda=OFF
if command -v nvcc > /dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then cuda=ON; fi
export PATH=$PATH:/usr/local/cuda/bin
tools/build.sh build -DLEAP_CUDA=$cuda
ctest --test-dir build --output-on-failure -j 2
tools/build.sh build-asan -DLEAP_CUDA=OFF -DLEAP_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j 2
