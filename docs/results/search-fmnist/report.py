#!/usr/bin/python3
"""Issue 18's tables from the run folders and the funnel stage (written to tables.md; README.md quotes them).

    /usr/bin/python3 docs/results/search-fmnist/report.py docs/results/search-fmnist [--proposers P,...]
        [--funnel-title TEXT]

--proposers: the run folders' proposers (default random,controller,ppo,evolution); --funnel-title: the funnel
section's heading (default issue 18's Fashion-MNIST stage).
"""
import csv
import glob
import io
import math
import os
import sqlite3
import statistics
import sys
from contextlib import redirect_stdout

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "exploration"))
import summarize  # noqa: E402  (docs/results/exploration/summarize.py: repeats and best-so-far)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import family  # noqa: E402

PROPOSERS = ["random", "controller", "ppo", "evolution"]


def ms(values, digits=4):
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return "%.*f ± %.*f" % (digits, statistics.mean(values), digits, sd)


def trained_rewards(run):
    """The rewards of a run's trained children (not cached, invalid or rejected), in the order they were proposed."""
    con = sqlite3.connect(f"file:{run}/search.db?mode=ro", uri=True)
    rows = con.execute("SELECT reward, status, cached FROM evaluations ORDER BY batch, slot").fetchall()
    con.close()
    return [r[0] for r in rows if not r[2] and r[1] not in ("invalid", "rejected")]


def expected_max(values, n):
    """E[max of n draws with replacement] from the empirical distribution of `values` (exact, by order statistics)."""
    xs = sorted(values)
    m = len(xs)
    return sum(x * ((k / m) ** n - ((k - 1) / m) ** n) for k, x in enumerate(xs, start=1))


def equal_trained(folder, runs, out, proposers=PROPOSERS):
    """Best reward after the first N trained children per proposer, and what N seeds of adam reach (the noise
    baseline: a search that only ever proposed adam, its children differing by seed alone)."""
    sizes = [10, 25, 37, 50, 75, 100, 150]
    adam_file = os.path.join(folder, "adam-seeds.csv")
    adam = [float(r["reward"]) for r in csv.DictReader(open(adam_file))] if os.path.exists(adam_file) else []
    print("\n## Equal trained children: best reward after the first N trained children\n", file=out)
    print("A proposer that trains more children draws more noisy rewards, and the best of more draws is higher even "
          "when no rule is better. Mean ± sd over the repeats that trained at least N (their count in brackets); the "
          "last row is the noise baseline: the expected best of N rewards of adam itself, each on another seed "
          "(%d seeds of adam on the same proxy, adam-seeds.csv)." % len(adam), file=out)
    print("\n| proposer | " + " | ".join("N = %d" % n for n in sizes) + " |", file=out)
    print("|---|" + "---|" * len(sizes), file=out)
    for p in proposers:
        if not runs[p]:
            continue
        trained = [trained_rewards(r) for r in runs[p]]
        cells = []
        for n in sizes:
            best = [max(t[:n]) for t in trained if len(t) >= n]
            cells.append("%s (%d)" % (ms(best), len(best)) if best else "-")
        print("| %s | %s |" % (p, " | ".join(cells)), file=out)
    if adam:
        print("| best of N adam seeds | %s |" % " | ".join("%.4f" % expected_max(adam, n) for n in sizes), file=out)
        print("\nadam over %d seeds: mean %.4f, sd %.4f, min %.4f, max %.4f." % (
            len(adam), statistics.mean(adam), statistics.stdev(adam), min(adam), max(adam)), file=out)


def main():
    args = sys.argv[1:]
    proposers, title = PROPOSERS, "Funnel stage: 20,000 images, 3 epochs, lr tuned, 5 seeds"
    while "--proposers" in args or "--funnel-title" in args:
        for flag in ("--proposers", "--funnel-title"):
            if flag in args:
                i = args.index(flag)
                value = args[i + 1]
                del args[i:i + 2]
                if flag == "--proposers":
                    proposers = value.split(",")
                else:
                    title = value
    folder = args[0]
    out = io.StringIO()
    runs = {p: sorted(glob.glob(os.path.join(folder, p + "-seed*"))) for p in proposers}
    print("## Searches: best-so-far at 25/50/100% of the budget (mean ± sd over the seeds)\n", file=out)
    groups = {p: r for p, r in runs.items() if r}
    buf = io.StringIO()
    with redirect_stdout(buf):
        summarize.aggregate(groups)
    out.write(buf.getvalue())
    print("\n## Per run\n", file=out)
    print("| run | trained | best | best rule | search seconds |\n|---|---|---|---|---|", file=out)
    total = 0.0
    for p in proposers:
        for run in runs[p]:
            n, _, _, _, trained, best, rule = summarize.summarize(run)
            con = sqlite3.connect(f"file:{run}/search.db?mode=ro", uri=True)
            seconds = con.execute("SELECT COALESCE(SUM(seconds), 0) FROM batches").fetchone()[0]
            con.close()
            total += seconds
            print("| %s | %d | %.4f | `%s` | %.0f |" % (os.path.basename(run), trained, best[2], rule, seconds),
                  file=out)
    print("\nAll searches: %.0f s (%.1f min) of batch time." % (total, total / 60), file=out)
    print("\n## PowerSign/AddSign-family rules (a product sign(g)·sign(m))\n", file=out)
    buf = io.StringIO()
    with redirect_stdout(buf):
        family.main(folder, proposers)
    out.write(buf.getvalue())
    equal_trained(folder, runs, out, proposers)
    summary = os.path.join(folder, "funnel", "summary.csv")
    if os.path.exists(summary):
        rows = list(csv.DictReader(open(summary)))
        adam = next((r for r in rows if r["rule"] == "adam"), None)
        print("\n## %s (mean ± sd over the seeds)\n" % title, file=out)
        # Final test accuracy per seed (the last epoch of each seed run), for the paired differences: every rule's seed
        # k starts from the same initialisation and sees the same batches (common random numbers).
        final = {}
        for r in csv.DictReader(open(os.path.join(folder, "funnel", "results.csv"))):
            key = (r["rule"], r["seed"])
            if r["status"] == "ok" and (key not in final or int(r["epoch"]) > final[key][0]):
                final[key] = (int(r["epoch"]), float(r["test_acc"]), float(r["lr"]))
        print("| rule | lr | val acc | test acc | test − adam (in pooled sds) | paired test − adam (mean ± sd over seeds) |",
              file=out)
        print("|---|---|---|---|---|---|", file=out)
        for r in sorted(rows, key=lambda r: -float(r["final_test_mean"] or "nan")):
            gap = paired = ""
            if adam and r is not adam and r["final_test_mean"]:
                d = float(r["final_test_mean"]) - float(adam["final_test_mean"])
                pooled = math.sqrt((float(r["final_test_std"] or 0) ** 2 + float(adam["final_test_std"] or 0) ** 2) / 2)
                gap = "%+.4f (%+.1f)" % (d, d / pooled if pooled > 0 else float("nan"))
                diffs = []  # results.csv holds the seed runs (at the chosen lr) only
                for seed in range(0, 100):
                    a, b = final.get((r["rule"], str(seed))), final.get(("adam", str(seed)))
                    if a and b:
                        diffs.append(a[1] - b[1])
                if len(diffs) >= 2:
                    mean = sum(diffs) / len(diffs)
                    sd = math.sqrt(sum((x - mean) ** 2 for x in diffs) / (len(diffs) - 1))
                    paired = "%+.4f ± %.4f (%d seeds)" % (mean, sd, len(diffs))
            print("| `%s` | %s | %.4f ± %.4f | %.4f ± %.4f | %s | %s |" % (
                r["rule"], r["lr"], float(r["final_val_mean"]), float(r["final_val_std"]), float(r["final_test_mean"]),
                float(r["final_test_std"]), gap, paired), file=out)
        sessions = os.path.join(folder, "funnel", "sessions.csv")
        if os.path.exists(sessions):
            secs = sum(float(s.get("wall_seconds", 0) or 0) for s in csv.DictReader(open(sessions)))
            print("\nFunnel stage: %.0f s (%.1f min) of wall time over its sessions." % (secs, secs / 60), file=out)
    open(os.path.join(folder, "tables.md"), "w").write(out.getvalue())
    print(out.getvalue())


if __name__ == "__main__":
    main()
