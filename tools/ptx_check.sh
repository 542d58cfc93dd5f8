#!/usr/bin/env bash
# Proof of tensor-core use without a GPU: compiles one CUDA file to PTX for one architecture and checks that every
# kernel whose name matches KERNEL_REGEX contains each required instruction, e.g. mma.sync...bf16 on sm_80 or
# wgmma.mma_async on sm_90a. ctest runs it for the hand-written attention and convolution kernels
# (tests/kernels/tensor_cores.cmake); a kernel that silently fell back to scalar FMAs fails it.
#
#   tools/ptx_check.sh NVCC SOURCE ARCH KERNEL_REGEX PATTERN...
#
# ARCH is an nvcc -arch value (sm_80, sm_90a). PATTERN is an extended regular expression matched against the PTX
# lines of each selected kernel (.entry ... to the end of its body). Exit 0 when every selected kernel has every
# pattern and at least one kernel was selected; 1 otherwise, with the counts printed.
set -uo pipefail
if [ $# -lt 5 ]; then
  sed -n '2,/^# lines of each/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
nvcc=$1 src=$2 arch=$3 kernels=$4
shift 4
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ptx="$tmp/out.ptx"
if ! "$nvcc" -ptx -arch="$arch" -std=c++17 -O3 -DLEAP_WITH_CUDA=1 -I"$root" "$src" -o "$ptx" 2> "$tmp/err"; then
  echo "ptx_check: nvcc -ptx -arch=$arch $src failed:" >&2
  cat "$tmp/err" >&2
  exit 1
fi
# One line per (kernel, pattern): the number of matching PTX lines in that kernel's body.
awk -v kre="$kernels" -v pats="$(printf '%s\n' "$@")" '
  BEGIN { np = split(pats, pat, "\n"); if (pat[np] == "") np-- }
  /^(\.visible )?\.entry / { name = $0; sub(/^(\.visible )?\.entry +/, "", name); sub(/\(.*/, "", name)
                             cur = (name ~ kre) ? name : ""; if (cur != "") order[++nk] = cur; next }
  cur != "" { for (i = 1; i <= np; i++) if ($0 ~ pat[i]) count[cur, i]++ }
  END {
    bad = 0
    if (nk == 0) { print "ptx_check: no kernel matches /" kre "/"; exit 1 }
    for (k = 1; k <= nk; k++) for (i = 1; i <= np; i++) {
      c = count[order[k], i] + 0
      printf "%-8s %6d  %s  in %s\n", (c > 0 ? "ok" : "MISSING"), c, pat[i], order[k]
      if (c == 0) bad = 1
    }
    exit bad
  }' "$ptx"
