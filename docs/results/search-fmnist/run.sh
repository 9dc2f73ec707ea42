#!/bin/sh
# Issue 18's discovery experiment, from scratch into a folder of your choice, resumable.
#   sh docs/results/search-fmnist/run.sh [--smoke] [OUT] [NOS]     (from the repository root)
#     OUT   the output folder (default: a fresh runs/search-fmnist-YYYYmmdd-HHMMSS); run again with the same OUT
#           after any interruption and it trains only what is missing. Given this folder
#           (docs/results/search-fmnist) it trains nothing and renders the committed tables again.
#     NOS   the nos command (default: build/nos)
#     --smoke  the same pipeline at a budget of minutes (one seed per proposer, 24 proposals on 1,000 images, a
#           funnel of 2 seeds on 1,000 images): for checking the scripts, not for results.
# 1. Four proposers x 3 seeds, 320 proposals each, on the proxy of configs/discovery-*.yaml.
# 2. select.py: the best 2 distinct rules of each proposer (pooled over its seeds) into OUT/funnel.yaml.
# 3. nos compare --config OUT/funnel.yaml: those rules with adam, adamw and powersign on 20,000 training images,
#    3 epochs, lr tuned, 5 seeds.
# 4. adam-seeds.sh: adam on 40 seeds of the proxy (the noise baseline of "equal trained children").
# 5. report.py: OUT/tables.md (wall time from the run stores' batch seconds and the compare's sessions.csv).
set -e
HERE=$(dirname "$0")
SMOKE=""
if [ "$1" = "--smoke" ]; then
  SMOKE="--smoke"
  shift
fi
OUT=${1:-runs/search-fmnist-$(date +%Y%m%d-%H%M%S)${SMOKE:+-smoke}}
NOS=${2:-build/nos}
SEEDS="1 2 3"
mkdir -p "$OUT"
if [ -n "$SMOKE" ]; then
  SEEDS="1"
  mkdir -p "$OUT/configs"
fi
for proposer in random controller ppo evolution; do
  config=configs/discovery-$proposer.yaml
  if [ -n "$SMOKE" ]; then
    # The smoke budget: 24 proposals (3 batches), 1,000 training and 500 validation images, two lrs.
    sed -e 's/^budget: .*/budget: 24/' \
        -e 's/^  train_size: .*/  train_size: 1000/' -e 's/^  validation_size: .*/  validation_size: 500/' \
        -e 's/^  lr_grid: \[0.001, 0.01, 0.1\]/  lr_grid: [0.01, 0.1]/' \
        "$config" > "$OUT/configs/discovery-$proposer.yaml"
    config=$OUT/configs/discovery-$proposer.yaml
  fi
  for seed in $SEEDS; do
    run=$OUT/$proposer-seed$seed
    if [ -f "$run/search.db" ]; then
      "$NOS" search --resume "$run" --top 0
    else
      "$NOS" search --config "$config" --seed "$seed" --run-dir "$run" --top 0
    fi
  done
done
/usr/bin/python3 "$HERE/select.py" $SMOKE "$OUT" "$NOS"
"$NOS" compare --config "$OUT/funnel.yaml"
sh "$HERE/adam-seeds.sh" "$OUT" "$NOS" "$([ -n "$SMOKE" ] && echo 4 || echo 40)"
/usr/bin/python3 "$HERE/report.py" "$OUT"
echo "run.sh: done; tables in $OUT/tables.md, the funnel stage's report in $OUT/funnel/report.md"
