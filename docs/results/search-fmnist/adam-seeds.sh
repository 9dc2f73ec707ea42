#!/bin/sh
# The noise baseline of the search-fmnist tables (report.py, "Equal trained children"): adam's reward on the searches'
# proxy — the NOS ConvNet on 8,000 training images, validated on the same 2,000 selection images (split: selection),
# 1 epoch, successive halving over lrs {0.001, 0.01, 0.1}, no test pass — on seeds 1 … N, as a search that only ever
# proposed adam would draw it. Appends one line per seed to OUT/adam-seeds.csv; resumable (seeds already there are
# skipped); two evaluations at a time. run.sh calls it.
#   sh docs/results/search-fmnist/adam-seeds.sh OUT [NOS] [N]      (default build/nos, 40)
set -e
OUT=${1:?give the output folder}
NOS=${2:-build/nos}
N=${3:-40}
CSV="$OUT/adam-seeds.csv"
[ -f "$CSV" ] || echo "seed,reward,lr" > "$CSV"
for s in $(seq 1 "$N"); do
  grep -q "^$s," "$CSV" || echo "$s"
done | xargs -P 2 -I{} sh -c "$NOS eval --rule adam --task fmnist-convnet --epochs 1 --train-size 8000 \
  --validation-size 2000 --split selection --lr-grid 0.001,0.01,0.1 --lr-search halving --no-test --threads 1 \
  --seed {} --json | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(\"%d,%s,%s\" % (r[\"seed\"], r[\"reward\"], r[\"lr\"]))' >> \"$CSV\""
sort -t, -k1,1n -o "$CSV" "$CSV"
