#!/usr/bin/env bash
# `make run`: until the MAML engine lands, show what the command can do.
set -euo pipefail
bin=${1:-build/acdc-meta}
"$bin" --help
"$bin" info
