#!/bin/sh
# Issue 20's measurement: random searches (the paper's token space, seed 1) whose children are evaluated by 1, 2 and
# 4 MPI ranks (mpirun -np 2, 3, 5: rank 0 runs the search) and, for reference, by 1 and 2 local worker processes.
#  - `cheap`: 400 proposals, rosenbrock for 10 steps, the prefilter on (as every search runs): a child costs
#    nothing, so the time per proposal is rank 0's own (proposing, the prefilter's probe and Beale runs, storing)
#    plus the MPI round trips of the ~10% of proposals that are trained.
#  - `child`: 160 proposals, rosenbrock for 5,000 steps (about 0.25 s), the prefilter off so that most proposals are
#    trained and a batch of 8 keeps the evaluators busy: children per hour as the evaluators scale.
# Ranks are not bound to cores (--bind-to none): a rank's worker process inherits its binding.
# This machine has 2 cores, so 4 evaluating ranks (plus rank 0 and their workers) are oversubscribed: beyond 2 the
# figures show coordination overhead, not scaling.
#   sh docs/results/mpi/measure.sh [NOS]        (from the repository root; writes docs/results/mpi/results.csv)
set -e
NOS=${1:-build/nos}
DIR=docs/results/mpi
TMP=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none \
  OMPI_MCA_mpi_yield_when_idle=1
echo "task,evaluators,kind,proposals,trained,wall_seconds,batch_seconds,trained_per_hour,ms_per_proposal" > "$DIR/results.csv"
for task in cheap child; do
  steps=10; budget=400; prefilter=true
  [ "$task" = child ] && steps=5000 budget=160 prefilter=false
  printf 'proposer: random\nbudget: %s\nbatch_size: 8\nworkers: 2\nseed: 1\ntask:\n  name: rosenbrock\n  steps: %s\n  lr: 0.001\nprefilter:\n  enabled: %s\n' \
    "$budget" "$steps" "$prefilter" > "$TMP/$task.yaml"
  for setting in local:1 local:2 mpi:1 mpi:2 mpi:4; do
    kind=${setting%%:*}; n=${setting##*:}
    run="$TMP/$task-$kind-$n"
    start=$(date +%s.%N)
    if [ "$kind" = local ]; then
      "$NOS" search --config "$TMP/$task.yaml" --workers "$n" --run-dir "$run" --top 0 > "$run.log" 2>&1
    else
      mpirun --oversubscribe --bind-to none -np $((n + 1)) "$NOS" search --config "$TMP/$task.yaml" --run-dir "$run" --top 0 \
        > "$run.log" 2>&1
    fi
    end=$(date +%s.%N)
    trained=$(sed -n 's/.*(\([0-9]*\) trained in.*/\1/p' "$run.log")
    batch=$(/usr/bin/python3 -c "import sqlite3; print(sqlite3.connect('$run/search.db').execute(
      'SELECT SUM(seconds) FROM batches').fetchone()[0])")
    # wall: the whole command (MPI start-up and LibTorch loading in every rank included); batch: the search's own
    # time from the first proposal to the last stored child (the store's batches table).
    /usr/bin/python3 -c "
w = $end - $start; b = $batch; t = $trained
print('$task,$n,$kind,$budget,%d,%.2f,%.2f,%.0f,%.2f' % (t, w, b, 3600 * t / b, 1000 * b / $budget))" >> "$DIR/results.csv"
  done
done
rm -rf "$TMP"
cat "$DIR/results.csv"
