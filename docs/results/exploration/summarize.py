#!/usr/bin/env python3
"""Repeat rates and best-so-far of search run folders (issue 17's exploration check).

    /usr/bin/python3 docs/results/exploration/summarize.py docs/results/exploration/{controller,controller-repeats,random}
    /usr/bin/python3 docs/results/exploration/summarize.py --aggregate docs/results/exploration/*/   (mean ± std over
        the seeds of each setting: a folder NAME-seedK belongs to NAME)

A repeat is a proposal whose canonical rule was proposed earlier in the run (invalid token texts count by their
tokens). Best-so-far is the highest reward among the first 25/50/100% of the proposals.
"""
import sqlite3
import sys


def summarize(run):
    db = sqlite3.connect(run + "/search.db")
    rows = db.execute("SELECT batch, slot, canonical, tokens, reward, status, cached FROM evaluations "
                      "ORDER BY batch, slot").fetchall()
    seen = set()
    repeat = []
    for _, _, canonical, tokens, _, _, _ in rows:
        key = canonical or ("tokens:" + tokens)
        repeat.append(key in seen)
        seen.add(key)
    n = len(rows)
    half = n // 2
    second = repeat[half:]
    best = []
    for fraction in (0.25, 0.5, 1.0):
        k = max(1, int(round(n * fraction)))
        best.append(max(r[4] for r in rows[:k]))
    trained = sum(1 for r in rows if not r[6] and r[5] not in ("invalid", "rejected"))
    top = max(rows, key=lambda r: r[4])
    return n, sum(repeat) / n, sum(second) / max(1, len(second)), len(seen), trained, best, top[2]


def aggregate(groups):
    """Mean ± std over the runs of each group ("controller", "controller-seed2", ... share "controller")."""
    import statistics
    print("| setting | runs | repeats (2nd half) | trained | best @25% | best @50% | best @100% |")
    print("|---|---|---|---|---|---|---|")
    for name, runs in groups.items():
        stats = [summarize(r) for r in runs]

        def ms(values, pct=False, digits=4):
            m = statistics.mean(values)
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            if pct:
                return "%.1f%% ± %.1f" % (100 * m, 100 * sd)
            return "%.*f ± %.*f" % (digits, m, digits, sd)
        print("| %s | %d | %s | %s | %s | %s | %s |" % (
            name, len(runs), ms([s[2] for s in stats], pct=True), ms([s[4] for s in stats], digits=1),
            ms([s[5][0] for s in stats]), ms([s[5][1] for s in stats]), ms([s[5][2] for s in stats])))


def main():
    import os
    # Only run folders (a plots/ folder beside them is passed over).
    sys.argv = sys.argv[:2] + [a for a in sys.argv[2:] if os.path.exists(os.path.join(a, "search.db"))]
    if sys.argv[1] != "--aggregate":
        sys.argv = [sys.argv[0]] + [a for a in sys.argv[1:] if os.path.exists(os.path.join(a, "search.db"))]
    if sys.argv[1] == "--aggregate":
        groups = {}
        for run in sys.argv[2:]:
            name = run.rstrip("/").split("/")[-1].split("-seed")[0]
            groups.setdefault(name, []).append(run)
        aggregate(groups)
        return
    print("| run | proposals | repeats (all) | repeats (2nd half) | distinct rules | trained | best @25% | @50% | @100% "
          "| best rule |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for run in sys.argv[1:]:
        n, all_rate, second, distinct, trained, best, rule = summarize(run)
        print("| %s | %d | %.1f%% | %.1f%% | %d | %d | %.4f | %.4f | %.4f | `%s` |" % (
            run.rstrip("/").split("/")[-1], n, 100 * all_rate, 100 * second, distinct, trained, best[0], best[1],
            best[2], rule))


if __name__ == "__main__":
    main()
