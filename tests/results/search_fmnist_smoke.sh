#!/bin/sh
# docs/results/search-fmnist/run.sh --smoke, end to end on Debian's Fashion-MNIST: the four searches, select.py,
# the funnel stage (nos compare), the noise baseline (adam-seeds.sh) and report.py write into a fresh folder, not the committed one; run again on
# the same folder it trains nothing.
#   sh tests/results/search_fmnist_smoke.sh SOURCE_DIR NOS WORK_DIR
set -e
SRC=$1
NOS=$2
WORK=$3
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$WORK"
mkdir -p "$WORK"
OUT=$WORK/out
cd "$SRC"
touch "$WORK/marker"
sh docs/results/search-fmnist/run.sh --smoke "$OUT" "$NOS" > "$WORK/first.log" 2>&1 || { cat "$WORK/first.log"; fail "run.sh --smoke failed"; }
for proposer in random controller ppo evolution; do
  [ -f "$OUT/$proposer-seed1/search.db" ] || fail "no $OUT/$proposer-seed1/search.db"
  grep -q '^budget: 24$' "$OUT/$proposer-seed1/config.yaml" || fail "$proposer's search did not run at the smoke budget"
done
for f in selection.md funnel.yaml tables.md funnel/report.md funnel/summary.csv; do
  [ -s "$OUT/$f" ] || fail "no $OUT/$f"
done
grep -q "^out: $OUT/funnel\$" "$OUT/funnel.yaml" || fail "funnel.yaml does not write into $OUT/funnel"
grep -q '^seeds: 2$' "$OUT/funnel.yaml" || fail "funnel.yaml is not at the smoke budget"
grep -q '## Reproduce' "$OUT/funnel/report.md" || fail "the funnel report does not say how to reproduce it"
[ "$(wc -l < "$OUT/adam-seeds.csv")" = 5 ] || fail "adam-seeds.csv does not hold the smoke's 4 seeds of adam"
grep -q '| best of N adam seeds |' "$OUT/tables.md" || fail "tables.md has no noise baseline"
grep -q '^split: confirmation$' "$OUT/funnel/config.yaml" || fail "the funnel stage is not on the confirmation images"
changed=$(find docs/results/search-fmnist -newer "$WORK/marker" -type f | head -3)
[ -z "$changed" ] || fail "run.sh wrote into the committed folder: $changed"
# Again on the same folder: every search resumes complete, every compare run comes from the journal.
sh docs/results/search-fmnist/run.sh --smoke "$OUT" "$NOS" > "$WORK/second.log" 2>&1 || { cat "$WORK/second.log"; fail "the rerun failed"; }
[ "$(grep -c '(0 trained in' "$WORK/second.log")" = 4 ] || { cat "$WORK/second.log"; fail "the rerun trained search children"; }
grep -Eq 'report: .* \(0 runs in [0-9]+s, [1-9][0-9]* from the journal\)' "$WORK/second.log" ||
  { cat "$WORK/second.log"; fail "the rerun trained compare runs"; }
echo "search-fmnist smoke: ok ($(grep -c ' chosen |' "$OUT/selection.md") rules chosen)"
