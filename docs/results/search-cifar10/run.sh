#!/bin/sh
# Issue 44: the search on the paper's own proxy, from scratch into a folder of your choice, resumable.
#   sh docs/results/search-cifar10/run.sh [OUT] [NOS]      (from the repository root)
#     OUT   the output folder (default: a fresh runs/search-cifar10-YYYYmmdd-HHMMSS); run again with the same OUT
#           after any interruption and it trains only what is missing. Given this folder it trains nothing and
#           renders the tables again.
#     NOS   the nos command (default: build/nos)
# 1. Three proposers (random, the controller with PPO, evolution) x 2 seeds, each run stopping after 150 trained
#    children (configs/search-cifar10-*.yaml: the proxy docs/results/cifar10-fidelity chose), one equivalence
#    cache shared by all six runs (OUT/fec-cache.db).
# 2. select.py: each proposer's best 2 distinct rules (pooled over its seeds) into OUT/funnel.yaml
#    (funnel-template.yaml: the paper's child protocol, 5 fresh seeds, confirmation images, adam and lion beside).
# 3. nos compare --config OUT/funnel.yaml.
# 4. adam-seeds.sh: adam on 40 seeds of the proxy (the noise baseline of "equal trained children").
# 5. report.py: OUT/tables.md.
set -e
HERE=$(dirname "$0")
FMNIST=$HERE/../search-fmnist
OUT=${1:-runs/search-cifar10-$(date +%Y%m%d-%H%M%S)}
NOS=${2:-build/nos}
PROPOSERS="random ppo evolution"
mkdir -p "$OUT"
for proposer in $PROPOSERS; do
  for seed in 1 2; do
    run=$OUT/$proposer-seed$seed
    if [ -f "$run/search.db" ]; then
      "$NOS" search --resume "$run" --top 0
    else
      "$NOS" search --config "configs/search-cifar10-$proposer.yaml" --seed "$seed" --run-dir "$run" \
        --fec-cache "$OUT/fec-cache.db" --top 0
    fi
  done
done
/usr/bin/python3 "$FMNIST/select.py" --proposers random,ppo,evolution --baselines adam,lion \
  --template "$HERE/funnel-template.yaml" "$OUT" "$NOS"
"$NOS" compare --config "$OUT/funnel.yaml"
sh "$FMNIST/adam-seeds.sh" "$OUT" "$NOS" 40 --task cifar10-convnet --data-dir ../shared/data/cifar10-jpeg \
  --epochs 1 --train-size 10000 --validation-size 5000 --split selection --lr-grid 1e-5,1e-4,1e-3,1e-2,1e-1,1 \
  --lr-search halving --dtype bfloat16 --no-test
/usr/bin/python3 "$FMNIST/report.py" "$OUT" --proposers random,ppo,evolution \
  --funnel-title "Funnel: the paper's child protocol (45,000 images, 5 epochs, lr tuned, 5 fresh seeds)"
echo "run.sh: done; tables in $OUT/tables.md, the funnel's report in $OUT/funnel/report.md"
