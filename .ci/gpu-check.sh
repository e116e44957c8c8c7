#!/usr/bin/env bash
# The CUDA build and its checks on an offline GPU machine (see README "CUDA"):
# installs the bundle that .ci/gpu-bundle.sh made here (Debian packages, the Python reference),
# builds against the LibTorch inside Python's torch package with
# OpenCV off, runs the whole test suite (the *_CUDA tests included), then the GPU benchmarks
# beside the plain PyTorch reference. Results go to ${OUT:-gpu-out}/.
set -uo pipefail
out=${OUT:-gpu-out}
mkdir -p "$out"
log() { echo "== $*" | tee -a "$out/summary.txt"; }
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
log "tests"
(cd build-cuda && ctest --output-on-failure -j8 --timeout 300) > "$out/ctest.log" 2>&1
tail -15 "$out/ctest.log" | tee -a "$out/summary.txt"
(cd build-cuda && ./tests/test_cuda) > "$out/test_cuda.log" 2>&1; grep -E "OK|FAILED|SKIPPED" "$out/test_cuda.log" | tee -a "$out/summary.txt"
bench() { ./build-cuda/acdc-meta bench --device cuda --json "$@" 2>/dev/null | tr -d '\n '; echo; }
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
./build-cuda/acdc-meta bench --device cuda --backend nccl --master 127.0.0.1:29533 --iterations 5 --json 2>&1 | tr -d '\n ' | tee -a "$out/bench.jsonl"; echo
./build-cuda/acdc-meta launch --nproc 2 -- bench --device cuda:0 --backend nccl --meta-batch 4 --iterations 5 2>&1 | tail -3 | tee -a "$out/summary.txt"
log "done"
