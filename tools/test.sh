#!/usr/bin/env bash
# Builds leap and runs every test: the release build (with the CUDA code compiled when nvcc is present; GPU tests
# skip without a device), the AddressSanitizer + UndefinedBehaviorSanitizer build, and the ThreadSanitizer build of
# the data loader's tests (OpenMP off there: libgomp is not TSan-instrumented and gives false reports).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools/install_deps.sh
export PATH=$PATH:/usr/local/cuda/bin
cuda=OFF
if command -v nvcc > /dev/null 2>&1; then cuda=ON; fi

tools/build.sh build -DLEAP_CUDA=$cuda
ctest --test-dir build --output-on-failure -j 2

tools/build.sh build-asan -DLEAP_CUDA=OFF -DLEAP_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure -j 2

tsan_tests=$(cd tests/data && ls test_loader_*.c | sed 's/\.c$//; s/^/data_/')
cmake -S . -B build-tsan -G Ninja -DLEAP_CUDA=OFF -DLEAP_OPENMP=OFF -DLEAP_SANITIZE=thread \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > build-tsan.configure.log
cmake --build build-tsan -j "$(nproc)" --target $tsan_tests
ctest --test-dir build-tsan --output-on-failure -j 2 -R "^($(echo $tsan_tests | tr ' ' '|'))$"
