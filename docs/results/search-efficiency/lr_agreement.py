#!/usr/bin/python3
"""Does successive halving choose the lr the full grid chooses? (issue 15)

1. Every named rule (`nos rules`, without the torch-* twins) on the bench proxy, with `nos eval --json` twice:
   `--lr-search full` and `--lr-search halving`, on the proxy's 4-lr grid and on the default 6-lr grid.
2. A sample of search rules: the rules that `nos bench search` trained to status ok both in its `off` stage (the full
   grid) and in its `halving` stage (successive halving), read from the two run folders: no training.

Usage: lr_agreement.py NOS BENCH_DIR [--jobs 2]
"""
import argparse
import concurrent.futures
import json
import sqlite3
import subprocess
import sys

PROXY = ["--task", "fmnist-convnet", "--train-size", "4000", "--validation-size", "2000", "--epochs", "1",
         "--threads", "1"]
GRIDS = {"4-lr": "0.001,0.01,0.1,1", "6-lr": "1e-5,1e-4,1e-3,1e-2,1e-1,1"}


def named_rules(nos):
    out = subprocess.run([nos, "rules"], check=True, capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip() and not line.startswith("torch-")]


def evaluate(nos, rule, grid, search):
    args = [nos, "eval", "--rule", rule, "--lr-grid", GRIDS[grid], "--lr-search", search, "--json"] + PROXY
    record = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    return record


def stored(run_dir):
    db = sqlite3.connect(f"file:{run_dir}/search.db?mode=ro", uri=True)
    rows = db.execute("SELECT canonical, lr, reward, seconds FROM evaluations "
                      "WHERE worker >= 0 AND status = 'ok' AND cached = 0").fetchall()
    return {c: (lr, reward, seconds) for c, lr, reward, seconds in rows}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("nos")
    p.add_argument("bench_dir")
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args()

    print("## Named rules: full grid vs successive halving (nos eval on the proxy)\n")
    print("| grid | rule | lr (full) | lr (halving) | same | val acc full | val acc halving | s full | s halving |")
    print("|---|---|---|---|---|---|---|---|---|")
    jobs = [(rule, grid, search) for grid in GRIDS for rule in named_rules(a.nos) for search in ("full", "halving")]
    with concurrent.futures.ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(lambda j: evaluate(a.nos, *j), jobs))
    by_key = {j: r for j, r in zip(jobs, results)}
    for grid in GRIDS:
        same = total = 0
        seconds = {"full": 0.0, "halving": 0.0}
        for rule in named_rules(a.nos):
            f, h = by_key[(rule, grid, "full")], by_key[(rule, grid, "halving")]
            ok = f["lr"] == h["lr"]
            same += ok
            total += 1
            seconds["full"] += f["seconds"]
            seconds["halving"] += h["seconds"]
            print(f"| {grid} | {rule} | {f['lr']:g} | {h['lr']:g} | {'yes' if ok else '**no**'} | "
                  f"{f['val_acc']:.4f} | {h['val_acc']:.4f} | {f['seconds']:.1f} | {h['seconds']:.1f} |")
        print(f"\n{grid}: the same lr for {same} of {total} named rules; "
              f"{seconds['full']:.0f} s (full) vs {seconds['halving']:.0f} s (halving)\n")

    print("## Search rules: the bench's off stage (full grid) vs its halving stage\n")
    off, halving = stored(f"{a.bench_dir}/off"), stored(f"{a.bench_dir}/halving")
    both = sorted(set(off) & set(halving))
    same = sum(off[c][0] == halving[c][0] for c in both)
    worse = [c for c in both if off[c][0] != halving[c][0]]
    print(f"{len(both)} rules trained to status ok in both: the same lr for {same}.\n")
    if worse:
        print("| rule | lr (full) | lr (halving) | reward full | reward halving |\n|---|---|---|---|---|")
        for c in worse:
            print(f"| `{c}` | {off[c][0]:g} | {halving[c][0]:g} | {off[c][1]:.4f} | {halving[c][1]:.4f} |")
    gap = [off[c][1] - halving[c][1] for c in both]
    if gap:
        print(f"\nmean reward full − halving over the {len(both)} rules: {sum(gap) / len(gap):+.4f} "
              f"(max {max(gap):+.4f}, min {min(gap):+.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
