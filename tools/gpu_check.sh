#!/usr/bin/env bash
# One command for a lent GPU machine (one H200; bare and offline: the CUDA toolkit, CMake, ninja, Python; no HDF5,
# OpenBLAS, libfyaml or MPI). It builds leap for sm_90a only without those libraries, runs the GPU tests
# (ctest -L gpu --output-on-failure), runs `leap bench --device cuda --json` when the binary has it, and prints a
# short table last: build status, each test's pass/fail/skip, the bench rows, and the command that reruns the
# failures. Everything else (configure, compiler output, test output, bench output) goes to the log.
#
#   tools/gpu_check.sh [--log FILE] [--only REGEX] [--build-dir DIR] [--jobs N] [--budget SECONDS]
#                      [--bench | --no-bench]
#
#   --log FILE      full log (default $OUT/gpu_check.log when $OUT is set, else BUILD_DIR/gpu_check.log); a JUnit
#                   file gpu_tests.xml goes beside it when ctest can write one
#   --only REGEX    run only the gpu tests whose names match (ctest -R), e.g. to rerun the failures; skips the
#                   bench unless --bench is given
#   --build-dir DIR build directory (default build-gpu-check in the repository; kept between runs, so a rerun
#                   only recompiles what changed)
#   --jobs N        parallel compile jobs (default: the number of CPUs)
#   --budget S      seconds the whole check may take (default 225, under the 4 minutes of a device session);
#                   each stage gets what is left, and a stage that runs out is reported as timed out
#
# Exit status: 0 when everything built and no test failed (skips are fine), 1 otherwise, 2 on a usage error.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build-gpu-check"
log=""
only=""
jobs=$(nproc 2> /dev/null || echo 16)
budget=225
bench=auto

usage() { sed -n '2,/^# Exit status/p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --log) log=${2:?--log needs a file}; shift 2 ;;
    --only) only=${2:?--only needs a regex}; shift 2 ;;
    --build-dir) build=${2:?--build-dir needs a directory}; shift 2 ;;
    --jobs | -j) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --budget) budget=${2:?--budget needs seconds}; shift 2 ;;
    --bench) bench=yes; shift ;;
    --no-bench) bench=no; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "gpu_check: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
if [ -z "$log" ]; then
  if [ -n "${OUT:-}" ]; then log="$OUT/gpu_check.log"; else log="$build/gpu_check.log"; fi
fi
mkdir -p "$build" "$(dirname "$log")" || exit 2
log=$(cd "$(dirname "$log")" && pwd)/$(basename "$log")
: > "$log"
start=$SECONDS

left() { echo $((budget - (SECONDS - start))); }
say() {
  echo "gpu_check: $* ($((SECONDS - start)) s)"
  echo "==== $* ($((SECONDS - start)) s)" >> "$log"
}
# run_logged CMD...: runs CMD with its output appended to the log, within the time left (status 124 when it ran
# out of time).
run_logged() {
  local t
  t=$(left)
  if [ "$t" -lt 5 ]; then
    echo "(no time left for: $*)" >> "$log"
    return 124
  fi
  timeout --kill-after=5 "$t" "$@" >> "$log" 2>&1
}

# The toolchain and the device, for the log.
if ! command -v nvcc > /dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH="$PATH:/usr/local/cuda/bin"; fi
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2> /dev/null | head -n 1)
{
  echo "gpu_check in $root, build $build"
  date
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || echo "nvidia-smi: none"
  nvcc --version 2>&1 | tail -n 2
  cmake --version 2>&1 | head -n 1
  echo "ninja $(ninja --version 2>&1)"
} >> "$log"

# Configure and build: sm_90a only, without the libraries the machine lacks. OpenMP is tried first and dropped if
# the compiler has none. -k 0 builds everything that can be built, so one broken file costs only its own targets.
build_status=ok
opts=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DLEAP_CUDA=ON -DLEAP_BLAS=OFF -DLEAP_HDF5=OFF -DLEAP_YAML=OFF
  -DLEAP_MPI=OFF -DLEAP_CUDA_ARCHS=90a-real)
# cuDNN (the benchmarks' baseline) may live only in PyTorch's pip wheel there (nvidia/cudnn/{include,lib}).
cudnn_root=""
for py in python3 python; do
  command -v "$py" > /dev/null 2>&1 || continue
  cudnn_root=$("$py" -c 'import nvidia.cudnn as m; print(list(m.__path__)[0])' 2> /dev/null) && break
done
if [ -n "$cudnn_root" ] && [ -f "$cudnn_root/include/cudnn.h" ]; then
  opts+=(-DLEAP_CUDNN_ROOT="$cudnn_root")
  echo "cuDNN from $cudnn_root" >> "$log"
  # The wheel's libraries load their siblings (libcudnn_engines_*.so.9) at run time from the loader's path.
  export LD_LIBRARY_PATH="$cudnn_root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
say "configure"
if ! run_logged cmake -S "$root" -B "$build" "${opts[@]}"; then
  say "configure failed; retrying without OpenMP"
  run_logged cmake -S "$root" -B "$build" "${opts[@]}" -DLEAP_OPENMP=OFF || build_status="configure FAILED"
fi
if [ "$build_status" = ok ]; then
  say "build (ninja -j$jobs)"
  run_logged ninja -C "$build" -j "$jobs" -k 0
  case $? in 0) ;; 124 | 137) build_status="build TIMED OUT" ;; *) build_status="build FAILED" ;; esac
fi

# The GPU tests.
tests_out="$build/gpu_check_ctest.txt"
: > "$tests_out"
ctest_rc=skip
if [ "$build_status" != "configure FAILED" ]; then
  ctest_args=(-L gpu --output-on-failure --timeout 150 -j 4)
  [ -n "$only" ] && ctest_args+=(-R "$only")
  ctest_help=$(ctest --help 2> /dev/null)
  if grep -q -- --output-junit <<< "$ctest_help"; then
    ctest_args+=(--output-junit "$(dirname "$log")/gpu_tests.xml")
  fi
  say "ctest ${ctest_args[*]}"
  t=$(left)
  if [ "$t" -ge 5 ]; then
    (cd "$build" && timeout --kill-after=5 "$t" ctest "${ctest_args[@]}") > "$tests_out" 2>&1
    ctest_rc=$?
  else
    echo "(no time left for ctest)" > "$tests_out"
    ctest_rc=124
  fi
  cat "$tests_out" >> "$log"
fi

# The benchmark, when the binary has a CUDA --json mode and there is a GPU.
bench_out="$build/gpu_check_bench.jsonl"
: > "$bench_out"
bench_status=""
leap_bin="$build/train/leap"
if [ "$bench" = yes ] || { [ "$bench" = auto ] && [ -z "$only" ]; }; then
  help=""
  [ -x "$leap_bin" ] && help=$("$leap_bin" bench --help 2>&1)
  if [ ! -x "$leap_bin" ]; then
    bench_status="skipped: no leap binary"
  elif ! grep -q -- '--device' <<< "$help" || ! grep -q -- '--json' <<< "$help"; then
    bench_status="skipped: leap bench has no --device/--json"
  elif [ -z "$gpu_name" ]; then
    bench_status="skipped: no GPU (nvidia-smi finds none)"
  else
    say "leap bench --device cuda --json"
    t=$(($(left) - 5))
    if [ "$t" -ge 5 ]; then
      # Line-buffered, so that the rows finished before a timeout still reach the file.
      linebuf=()
      command -v stdbuf > /dev/null 2>&1 && linebuf=(stdbuf -oL)
      timeout --kill-after=5 "$t" ${linebuf[@]+"${linebuf[@]}"} "$leap_bin" bench --device cuda --json --min-seconds 0.25 > "$bench_out" 2>> "$log"
      rc=$?
      cat "$bench_out" >> "$log"
      case $rc in 0) bench_status=ok ;; 124 | 137) bench_status="TIMED OUT after ${t} s" ;; *) bench_status="FAILED (exit $rc)" ;; esac
    else
      bench_status="skipped: out of time"
    fi
  fi
fi

# The short table, last.
{
  echo
  echo "==== gpu_check: ${gpu_name:-no GPU}, sm_90a, $((SECONDS - start)) s; log $log"
  printf '%-52s %s\n' "build" "$build_status"
  awk '
    /^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: / {
      line = $0
      sub(/^ *[0-9]+\/[0-9]+ +Test +#[0-9]+: /, "", line)
      name = line; sub(/ .*/, "", name)
      rest = substr(line, length(name) + 1)
      sub(/^ *\.* */, "", rest); sub(/^\**/, "", rest)
      secs = ""
      if (match(rest, /[0-9.]+ sec/)) { secs = substr(rest, RSTART, RLENGTH); rest = substr(rest, 1, RSTART - 1) }
      gsub(/ +$/, "", rest)
      if (rest == "Passed") status = "pass"; else if (rest == "Skipped") status = "skip"; else status = "FAIL (" rest ")"
      printf "%-52s %-24s %s\n", name, status, secs
    }' "$tests_out"
  if [ "$ctest_rc" = 124 ] || [ "$ctest_rc" = 137 ]; then printf '%-52s %s\n' "ctest" "TIMED OUT"; fi
  if ! grep -q ' Test  *#' "$tests_out" && [ "$ctest_rc" != skip ]; then printf '%-52s %s\n' "ctest" "no gpu tests ran"; fi
  if [ -n "$bench_status" ]; then
    printf '%-52s %s\n' "bench" "$bench_status"
    awk '
      function field(k,   v) {
        if (match($0, "\"" k "\": *\"[^\"]*\"")) { v = substr($0, RSTART, RLENGTH); sub(/^[^:]*: *"/, "", v); sub(/"$/, "", v); return v }
        if (match($0, "\"" k "\": *[-0-9.eE+]+")) { v = substr($0, RSTART, RLENGTH); sub(/^[^:]*: */, "", v); return v }
        return ""
      }
      /^\{/ { g = field("gflops") + 0
              printf "  %-50s %10s ms %14s %-8s %s\n", "bench " field("workload"), field("median_ms"), field("throughput"),
                     field("unit"), (g > 0 ? sprintf("%.1f TFLOP/s", g / 1000) : "") }
    ' "$bench_out"
  fi
} > "$build/gpu_check_table.txt"
cat "$build/gpu_check_table.txt" >> "$log"

failed=$(awk '$2 == "FAIL" {print $1}' "$build/gpu_check_table.txt" | grep -v '^\(build\|ctest\|bench\)$' | paste -sd '|' -)
npass=$(awk '$2 == "pass"' "$build/gpu_check_table.txt" | wc -l)
nskip=$(awk '$2 == "skip"' "$build/gpu_check_table.txt" | wc -l)
nfail=$(awk '$2 == "FAIL"' "$build/gpu_check_table.txt" | grep -cv '^\(build\|ctest\|bench\) ')
{
  echo "tests: $npass passed, $nfail failed, $nskip skipped"
  [ -n "$failed" ] && echo "rerun the failures: tools/gpu_check.sh --only '^($failed)\$'"
} | tee -a "$log" >> "$build/gpu_check_table.txt"
cat "$build/gpu_check_table.txt"

status=0
[ "$build_status" = ok ] || status=1
[ "$nfail" -eq 0 ] || status=1
case "$ctest_rc" in 0 | skip) ;; *) status=1 ;; esac
exit $status
