#!/usr/bin/env bash
# Side-by-side speed check on one machine, in one run: acdc-meta bench against the plain
# PyTorch MAML of ../shared/bench/py_maml_reference.py (Debian's python3-torch, the same
# ATen 1.13), first and second order, on the default workload (Conv4-64, 28x28x1, 5-way
# 1-shot, 15 queries, 5 inner steps, meta-batch 4). Prints one line per run and the ratios.
# Usage: experiments/bench_compare.sh [build/acdc-meta] [threads] [iterations]
set -euo pipefail
bin=${1:-build/acdc-meta}
threads=${2:-$(nproc)}
iters=${3:-5}
ref=${PY_REF:-../shared/bench/py_maml_reference.py}
py=${PYTHON:-/usr/bin/python3}
sec() { grep -o '"sec_per_meta_iter": *[0-9.e-]*' | grep -o '[0-9.e-]*$'; }
for order in second first; do
  flag=""; [ "$order" = first ] && flag="--first-order"
  ours=$("$bin" bench --threads "$threads" --iterations "$iters" $flag --json 2>/dev/null | sec)
  theirs=$("$py" "$ref" --threads "$threads" --iters "$iters" $flag | sec)
  tuned=$(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \
          "$py" "$ref" --threads "$threads" --iters "$iters" $flag | sec)
  awk -v o="$order" -v a="$ours" -v b="$theirs" -v c="$tuned" -v t="$threads" 'BEGIN {
    printf "%s order, %d threads: acdc-meta %.3f s/iter, python %.3f s/iter (%.2fx), python with acdc-meta'"'"'s malloc settings %.3f s/iter (%.2fx)\n", o, t, a, b, b / a, c, c / a }'
done
