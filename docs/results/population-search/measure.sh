#!/usr/bin/env bash
# The same search (search.yaml) with population 1 and auto, one worker each, on a quiet machine: wall time and
# the stored rows (every field but timings and the worker) compared. Usage: bash measure.sh [NOS] [OUT_DIR]
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
nos="${1:-$here/../../../build/nos}"
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
for p in 1 auto; do
  rm -rf "$out/p$p"
  start=$(date +%s.%N)
  "$nos" search --config "$here/search.yaml" --run-dir "$out/p$p" --population "$p" --top 0 > "$out/p$p.log" 2>&1
  end=$(date +%s.%N)
  echo "population $p: $(echo "$end - $start" | bc) s"
done
rows() {
  sqlite3 "$1/search.db" "select batch, slot, tokens, status, message, reward, hurdle_acc, val_acc, lr, cached
                          from evaluations order by batch, slot"
}
if [ "$(rows "$out/p1")" = "$(rows "$out/pauto")" ]; then
  echo "stored rows: identical ($(rows "$out/p1" | wc -l) children)"
else
  echo "stored rows: DIFFER"; diff <(rows "$out/p1") <(rows "$out/pauto") | head -20
fi
