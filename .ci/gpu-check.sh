#!/usr/bin/env bash
# The CUDA build and its checks on an offline GPU machine (see README "CUDA"):
# installs the bundle that .ci/gpu-bundle.sh made here (Debian packages, the Python reference),
# builds against the LibTorch inside Python's torch package with OpenCV off, runs the GPU
# benchmarks beside the plain PyTorch reference on a quiet GPU, then the whole test suite (the
# *_CUDA tests included). With ABLATION_DEADLINE=S (seconds since this script started) the
# Figure 7 ablation sweeps (docs/ablation-fashion-mnist-resnet18.md) run full length on the GPU
# beside the test suite and are stopped at S; their text outputs (not the checkpoints) come back.
# Results go to ${OUT:-gpu-out}/: summary.txt, bench.jsonl, ctest.log, logs.tgz and ablation.tgz (the
# device tool returns at most 8 files).
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out" && out=$(cd "$out" && pwd)
log() { echo "== $* (t=${SECONDS}s)" | tee -a "$out/summary.txt"; }
nvidia-smi -L | tee -a "$out/summary.txt"
python3 -c 'import torch; print("python torch", torch.__version__, "cuda", torch.cuda.is_available())' | tee -a "$out/summary.txt"
[ -d .offline-debs ] && bash .offline-debs/install-debs.sh .offline-debs > "$out/install.log" 2>&1
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
log "configure"
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DACDC_META_WITH_OPENCV=OFF \
  -DCMAKE_PREFIX_PATH="$prefix" $(ls -d /usr/lib/x86_64-linux-gnu/cmake/Boost-* 2>/dev/null | head -1 | sed 's/^/-DBoost_DIR=/') \
  > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
log "build"
( time cmake --build build-cuda -j16 -- -k 0 ) > "$out/build.log" 2>&1 || { grep -E "error|Error" -A3 "$out/build.log" | head -80; exit 1; }
tail -3 "$out/build.log" | tee -a "$out/summary.txt"

bench() { timeout 120 ./build-cuda/acdc-meta bench --device cuda --json "$@" 2>/dev/null | tr -d '\n '; echo; }
ref="../shared/bench/py_maml_reference.py"; [ -f "$ref" ] || ref=".offline-debs/py_maml_reference.py"
log "bench conv4 84x84x3 second order (ours, then python reference)"
bench --image-size 84 --channels 3 --iterations 10 | tee -a "$out/bench.jsonl"
python3 "$ref" --size 84 --channels 3 --device cuda --iters 10 | tee -a "$out/bench.jsonl"
log "bench conv4 84x84x3 first order"
bench --image-size 84 --channels 3 --iterations 10 --first-order | tee -a "$out/bench.jsonl"
python3 "$ref" --size 84 --channels 3 --device cuda --iters 10 --first-order | tee -a "$out/bench.jsonl"
log "bench resnet18 224 first order"
bench --backbone resnet18 --image-size 224 --channels 3 --first-order --iterations 5 | tee -a "$out/bench.jsonl"
log "resnet18 84 second order: peak memory, all vs atoms (acdc-net)"
bench --backbone resnet18 --image-size 84 --channels 3 --iterations 3 | tee -a "$out/bench.jsonl"
bench --backbone resnet18 --conv acdc-net --image-size 84 --channels 3 --iterations 3 | tee -a "$out/bench.jsonl"
bench --backbone resnet18 --conv acdc-net --inner-params atoms --image-size 84 --channels 3 --iterations 3 | tee -a "$out/bench.jsonl"
log "NCCL: a group of one on the GPU, then 2 ranks sharing it (NCCL may refuse two ranks on one GPU)"
timeout 90 ./build-cuda/acdc-meta bench --device cuda --backend nccl --master 127.0.0.1:29533 --iterations 5 --json 2>&1 | tr -d '\n ' | tee -a "$out/bench.jsonl"; echo
timeout 90 ./build-cuda/acdc-meta launch --nproc 2 -- bench --device cuda:0 --backend nccl --meta-batch 4 --iterations 5 2>&1 | tail -3 | tee -a "$out/summary.txt"

log "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) CPUs"
if grep -qw avx512f /proc/cpuinfo; then
  # Whole meta-iterations of the Winograd loops' AVX-512 build against oneDNN, 1 thread, alternated,
  # fastest iteration of each run; and the one-layer timing by which `--winograd auto` decides on
  # AVX-512 CPUs in every process (acdc/winograd.h), as `info` reports it.
  log "CPU: $(./build-cuda/acdc-meta info | grep '^Winograd')"
  log "CPU A/B on AVX-512: Winograd (on) against oneDNN (off), sec_min, 1 thread"
  for order in "" "--first-order"; do
    for round in 1 2; do
      for mode in on off; do
        t=$(timeout 60 ./build-cuda/acdc-meta bench --device cpu --threads 1 --iterations 5 --warmup 2 $order \
          --winograd $mode --json 2>/dev/null | sed -n 's/.*"sec_min": *\([0-9.]*\).*/\1/p')
        echo "cpu ${order:-second-order} round $round winograd $mode sec_min $t" | tee -a "$out/summary.txt"
      done
    done
  done
else
  log "CPU has no AVX-512: no Winograd A/B"
fi

pids=()
if [ -n "${ABLATION_DEADLINE:-}" ]; then
  left=$(( ABLATION_DEADLINE - SECONDS ))
  log "ablation sweeps, full length, both at once on the GPU, stopped after ${left}s"
  for name in atom-drop atoms; do
    timeout "$left" ./build-cuda/acdc-meta classify --sweep "experiments/configs/ablation-$name-fashion-mnist-resnet18.ini" \
      --out "runs/gpu-ablation-$name" --device cuda --threads 2 > "$out/ablation-$name.log" 2>&1 &
    pids+=($!)
  done
fi
log "tests"
(cd build-cuda && timeout 300 ctest --output-on-failure -j8 --timeout 240) > "$out/ctest.log" 2>&1
tail -15 "$out/ctest.log" | tee -a "$out/summary.txt"
(cd build-cuda && timeout 60 ./tests/test_cuda) > "$out/test_cuda.log" 2>&1; grep -E "OK|FAILED|SKIPPED" "$out/test_cuda.log" | tee -a "$out/summary.txt"
if [ ${#pids[@]} -gt 0 ]; then
  for p in "${pids[@]}"; do wait "$p"; echo "ablation exit $?" | tee -a "$out/summary.txt"; done
  # Text outputs only (the checkpoints stay): the device tool returns at most 8 files.
  (cd runs && find gpu-ablation-* -type f \( -name '*.csv' -o -name '*.json' -o -name '*.md' -o -name '*.ini' -o -name '*.svg' \) \
    -print0 | tar czf "$out/ablation.tgz" --null -T -)
fi
(cd "$out" && tar czf logs.tgz --remove-files $(ls install.log configure.log build.log test_cuda.log ablation-*.log 2>/dev/null))
log "done"
