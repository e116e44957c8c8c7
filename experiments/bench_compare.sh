#!/usr/bin/env bash
# Side-by-side speed check on one machine, in one run: acdc-meta bench against the plain
# PyTorch MAML of ../shared/bench/py_maml_reference.py (Debian's python3-torch, the same
# ATen 1.13), first and second order, on the default workload (Conv4-64, 28x28x1, 5-way
# 1-shot, 15 queries, 5 inner steps, meta-batch 4).
#
# The reference runs twice per round: as users run it, and with acdc-meta's malloc settings
# (MALLOC_* below, what acdc-meta sets for itself with mallopt), so that the second ratio counts
# engine work only. Runs alternate, round after round, so that a slow spell of a shared machine
# hits both sides; the summary gives the median ratio and the range over the rounds.
# Usage: experiments/bench_compare.sh [build/acdc-meta] [threads] [iterations] [rounds]
set -euo pipefail
bin=${1:-build/acdc-meta}
threads=${2:-$(nproc)}
iters=${3:-5}
rounds=${4:-1}
ref=${PY_REF:-../shared/bench/py_maml_reference.py}
py=${PYTHON:-/usr/bin/python3}
sec() { grep -o '"sec_per_meta_iter": *[0-9.e-]*' | grep -o '[0-9.e-]*$'; }
malloc_env=(MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864)
core=$("$bin" bench --threads 1 --iterations 1 --warmup 0 --json 2>/dev/null | grep -o '"blas_core": *"[^"]*"' | cut -d'"' -f4 || true)
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); OpenBLAS kernels: ${core:-?}; $threads thread(s), $iters iterations per run, $rounds round(s)"
declare -A ratios tuned_ratios
for ((r = 1; r <= rounds; r++)); do
  for order in second first; do
    flag=""; [ "$order" = first ] && flag="--first-order"
    ours=$("$bin" bench --threads "$threads" --iterations "$iters" $flag --json 2>/dev/null | sec)
    theirs=$("$py" "$ref" --threads "$threads" --iters "$iters" $flag | sec)
    tuned=$(env "${malloc_env[@]}" "$py" "$ref" --threads "$threads" --iters "$iters" $flag | sec)
    line=$(awk -v o="$order" -v a="$ours" -v b="$theirs" -v c="$tuned" -v t="$threads" -v r="$r" 'BEGIN {
      printf "round %d, %s order, %d thread(s): acdc-meta %.3f s/iter, python %.3f s/iter (%.2fx), python with acdc-meta'"'"'s malloc settings %.3f s/iter (%.2fx)", r, o, t, a, b, b / a, c, c / a }')
    echo "$line"
    ratios[$order]+="$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.3f ", b / a }')"
    tuned_ratios[$order]+="$(awk -v a="$ours" -v c="$tuned" 'BEGIN { printf "%.3f ", c / a }')"
  done
done
summary() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { printf "median %.2fx (range %.2f-%.2fx)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
for order in second first; do
  echo "$order order, $threads thread(s), $rounds round(s): vs python $(echo "${ratios[$order]}" | summary); vs python with the same malloc settings $(echo "${tuned_ratios[$order]}" | summary)"
done
