#!/usr/bin/env bash
# Everything .ci/gpu-check.sh needs on an offline GPU machine, in one ignored folder (default
# .offline-debs), made here where apt works: the kit's Debian packages (Boost, HDF5), the ones
# the kit leaves out that this project needs (nlohmann-json, fmt, GoogleTest, the Fashion-MNIST
# files several tests read), and the plain PyTorch reference the benchmarks time us against.
# Then: device run "bash .ci/gpu-check.sh" with carry [".offline-debs"] (about 47 MiB).
set -euo pipefail
dir=${1:-.offline-debs}
bash ../shared/gpu/bundle-debs.sh "$dir" >/dev/null
(cd "$dir" && apt-get download nlohmann-json3-dev libfmt-dev libfmt9 libgloo-dev libgtest-dev libgmock-dev googletest \
  dataset-fashion-mnist >/dev/null 2>&1) || { echo "apt-get download failed" >&2; exit 1; }
cp ../shared/bench/py_maml_reference.py "$dir/"
du -sh "$dir"
