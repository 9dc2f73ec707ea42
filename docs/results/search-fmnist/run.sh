#!/bin/sh
# Issue 18's discovery experiment, resumable: run it again after any interruption and it trains only what is missing.
#   sh docs/results/search-fmnist/run.sh [NOS]     (from the repository root; NOS defaults to build/nos)
# 1. Four proposers x 3 seeds, 320 proposals each, on the proxy of configs/discovery-*.yaml.
# 2. select.py: the best 2 distinct rules of each proposer (pooled over its seeds) into funnel.yaml.
# 3. nos compare --config docs/results/search-fmnist/funnel.yaml: those rules with adam, adamw and powersign on
#    20,000 training images, 3 epochs, lr tuned, 5 seeds.
# 4. report.py: tables.md (wall time from the run stores' batch seconds and the compare's sessions.csv).
set -e
NOS=${1:-build/nos}
DIR=docs/results/search-fmnist
for proposer in random controller ppo evolution; do
  for seed in 1 2 3; do
    run=$DIR/$proposer-seed$seed
    if [ -f "$run/search.db" ]; then
      "$NOS" search --resume "$run" --top 0
    else
      "$NOS" search --config configs/discovery-$proposer.yaml --seed $seed --run-dir "$run" --top 0
    fi
  done
done
/usr/bin/python3 "$DIR/select.py" "$DIR" "$NOS"
"$NOS" compare --config "$DIR/funnel.yaml"
/usr/bin/python3 "$DIR/report.py" "$DIR"
