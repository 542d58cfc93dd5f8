#!/usr/bin/env bash
# tools/build.sh BUILD_DIR [CMAKE OPTIONS...]: configures (once) and builds leap with ninja on every core.
set -euo pipefail
dir=${1:?usage: tools/build.sh BUILD_DIR [cmake options]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$root" -B "$dir" -G Ninja "$@" > "$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir" -j "$(nproc)"
