#!/usr/bin/env bash
# `make run`, the main job: meta-trains ACDC-net Conv4 with MAML on the embedded Fashion-MNIST
# few-shot split (settings: experiments/configs/main.ini), evaluates 5-way 1-shot and 5-shot on
# 600 test episodes (CloserLook protocol) and prints accuracy ± 95% interval and the parameter
# count against the standard-conv Conv4. Output: runs/main/ (replaced), runs/main/eval.json.
#   usage: experiments/main_job.sh [path/to/acdc-meta]     (RUN_DIR=..., CONFIG=..., TEST_STEPS=... override)
set -euo pipefail
bin=${1:-build/acdc-meta}
config=${CONFIG:-experiments/configs/main.ini}
run=${RUN_DIR:-runs/main}
[ -x "$bin" ] || { echo "main_job: no acdc-meta at '$bin' (run make first)" >&2; exit 2; }
[ -f "$config" ] || { echo "main_job: no configuration '$config'" >&2; exit 2; }

start=$(date +%s)
rm -rf "$run"
mkdir -p "$(dirname "$run")"
echo "== meta-training ($config -> $run)"
"$bin" train --config "$config" --out "$run"
trained=$(date +%s)

# 20 adaptation steps at test (main.ini's inner-steps-test, 10, is what validation uses during
# training); eval.json records the steps it ran.
test_steps=${TEST_STEPS:-20}
echo "== evaluating the best checkpoint: 5-way 1-shot and 5-shot, 600 test episodes, $test_steps adaptation steps"
"$bin" eval --run "$run" --checkpoint best --episodes 600 --shots 1,5 --inner-steps-test "$test_steps" --json > "$run/eval.json.tmp"
mv "$run/eval.json.tmp" "$run/eval.json"
end=$(date +%s)

# The table, from eval.json (pretty-printed by nlohmann-json: one "key": value per line).
awk -v train_s=$((trained - start)) -v eval_s=$((end - trained)) '
  BEGIN           { n = 0 }
  /"shots":/      { gsub(/[^0-9]/, "", $2); shots[n] = $2 }
  /"accuracy":/   { gsub(/[,]/, "", $2); acc[n] = $2 }
  /"ci95":/       { gsub(/[,]/, "", $2); ci[n] = $2; n++ }
  /"parameters":/ { gsub(/[,]/, "", $2); params = $2 }
  /"parameters_standard_conv":/ { gsub(/[,]/, "", $2); standard = $2 }
  /"conv":/       { gsub(/[",]/, "", $2); conv = $2 }
  /"width":/      { gsub(/[,]/, "", $2); width = $2 }
  END {
    bar[1] = "58.6 ± 0.7"; bar[5] = "79.5 ± 0.5"
    printf "\nMAML, Conv4-%s %s, Fashion-MNIST few-shot split (test classes 5-9), 600 episodes\n", width, conv
    printf "  %-14s %-16s %s\n", "setting", "accuracy (%)", "plain MAML Conv4-64 (bar)"
    for (i = 0; i < n; i++)
      printf "  5-way %d-shot   %6.2f ± %-6.2f   %s\n", shots[i], acc[i], ci[i], bar[shots[i]]
    printf "  parameters: %d (ACDC) vs %d (standard-conv Conv4 of the same width): %.1f%%\n",
           params, standard, 100.0 * params / standard
    printf "  time: %d s training, %d s evaluation\n", train_s, eval_s
  }' "$run/eval.json"
echo "results: $run/eval.json  (checkpoints, metrics.csv and config.ini in $run/)"
