#!/bin/sh
# The noise baseline of the search-fmnist tables (report.py, "Equal trained children"): adam's reward on the searches'
# proxy — the NOS ConvNet on 8,000 training images, validated on the same 2,000 selection images (split: selection),
# 1 epoch, successive halving over lrs {0.001, 0.01, 0.1}, no test pass — on seeds 1 … N, as a search that only ever
# proposed adam would draw it. Appends one line per seed to OUT/adam-seeds.csv; resumable (seeds already there are
# skipped); two evaluations at a time. run.sh calls it.
#   sh docs/results/search-fmnist/adam-seeds.sh OUT [NOS] [N] [PROXY FLAGS...]     (default build/nos, 40)
# PROXY FLAGS, when given, are the `nos eval` flags of another search's proxy in place of these (search-cifar10's
# run.sh passes its CIFAR-10 proxy); --rule, --seed, --json and --threads are added.
set -e
OUT=${1:?give the output folder}
NOS=${2:-build/nos}
N=${3:-40}
[ $# -gt 3 ] && shift 3 || set --
if [ $# -eq 0 ]; then
  set -- --task fmnist-convnet --epochs 1 --train-size 8000 --validation-size 2000 --split selection \
    --lr-grid 0.001,0.01,0.1 --lr-search halving --no-test
fi
CSV="$OUT/adam-seeds.csv"
[ -f "$CSV" ] || echo "seed,reward,lr" > "$CSV"
for s in $(seq 1 "$N"); do
  grep -q "^$s," "$CSV" || echo "$s"
done | xargs -P 2 -I{} sh -c '
  nos=$1; csv=$2; seed=$3; shift 3
  "$nos" eval --rule adam "$@" --threads 1 --seed "$seed" --json |
    /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin); print(\"%d,%s,%s\" % (r[\"seed\"], r[\"reward\"], r[\"lr\"]))" >> "$csv"' \
  _ "$NOS" "$CSV" {} "$@"
sort -t, -k1,1n -o "$CSV" "$CSV"
