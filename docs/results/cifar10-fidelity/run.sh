#!/bin/sh
# The cheap proxies of docs/results/cifar10-fidelity, each rule of rules.txt trained as a search's child would be
# (selection images, the search's seeds 0, 1, 2, no test pass), one `nos eval --json` record per (proxy, rule,
# seed) in proxies/PROXY/RULE-INDEX-sSEED.json. Resumable: a record already there is not trained again, so a rerun
# of a finished folder trains nothing. From the repository root:
#   sh docs/results/cifar10-fidelity/run.sh [NOS] [JOBS]      (default build/nos, 2 runs at a time)
# The reference (the paper's child protocol) is the comparison in truth/ (nos compare; see README.md).
set -eu
NOS=${1:-build/nos}
JOBS=${2:-2}
DIR=docs/results/cifar10-fidelity
COMMON="--task cifar10-convnet --data-dir ../shared/data/cifar10-jpeg --split selection --validation-size 5000
 --lr-grid 1e-5,1e-4,1e-3,1e-2,1e-1,1 --lr-search halving --no-test --threads 1 --json --quiet"
# PROXY|SEEDS|FLAGS: 10,000, 20,000 or 45,000 training images, the lr by successive halving over the paper's grid
# (its trials one epoch long), then the chosen lr trained on to the budget (1 or 3 epochs).
PROXIES="p10k|0 1 2|--train-size 10000 --epochs 1
p20k|0|--train-size 20000 --epochs 1
p10k-bf16|0 1 2|--train-size 10000 --epochs 1 --dtype bfloat16
p10k-3ep-bf16|0 1 2|--train-size 10000 --epochs 3 --dtype bfloat16
p45k-bf16|0|--epochs 1 --dtype bfloat16"

jobs_file=$(mktemp)
trap 'rm -f "$jobs_file"' EXIT
echo "$PROXIES" | while IFS='|' read -r proxy seeds flags; do
  mkdir -p "$DIR/proxies/$proxy"
  i=0
  while IFS= read -r rule; do
    i=$((i + 1))
    for seed in $seeds; do
      out="$DIR/proxies/$proxy/rule$(printf %02d $i)-s$seed.json"
      [ -s "$out" ] && continue
      # One line per run: the output file, then the arguments (NUL-free, tab-separated).
      printf '%s\t%s\t%s\t%s\n' "$out" "$rule" "$seed" "$flags" >> "$jobs_file"
    done
  done < "$DIR/rules.txt"
done
total=$(wc -l < "$jobs_file")
echo "run.sh: $total runs to train ($JOBS at a time)"
[ "$total" -eq 0 ] && exit 0
export NOS COMMON
tr '\n' '\0' < "$jobs_file" | xargs -0 -P "$JOBS" -I{} sh -c '
  line="$1"
  out=$(printf "%s" "$line" | cut -f1); rule=$(printf "%s" "$line" | cut -f2)
  seed=$(printf "%s" "$line" | cut -f3); flags=$(printf "%s" "$line" | cut -f4)
  # shellcheck disable=SC2086
  if $NOS eval $COMMON $flags --seed "$seed" --rule "$rule" > "$out.tmp"; then
    mv "$out.tmp" "$out"; echo "done $out"
  else
    echo "FAILED $out ($rule, seed $seed)" >&2; rm -f "$out.tmp"
  fi' _ {}
