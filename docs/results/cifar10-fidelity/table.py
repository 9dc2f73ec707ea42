#!/usr/bin/env python3
"""The fidelity table of docs/results/cifar10-fidelity: how well each cheap proxy ranks the rules of rules.txt like
the paper's child protocol (truth/, a nos compare folder: 45,000 images, lr tuned by one epoch over 1e-5 ... 1,
5 epochs, the mean validation accuracy of seeds 1001-1003), and what each costs. Reads only files; trains nothing.

    python3 docs/results/cifar10-fidelity/table.py > docs/results/cifar10-fidelity/table.md

Spearman's rho over the rules (ties: average ranks), with a 90 % bootstrap interval over rules (2,000 resamples,
seed 0); top-5 overlap: how many of the protocol's best five rules the proxy also ranks in its best five. A proxy's
score for a rule is its reward (final validation accuracy on the selection images; 0 for a child that diverged),
averaged over the proxy's seeds.
"""
import glob
import json
import os
import random
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TRUTH_SEEDS = (1001, 1002, 1003)


def rules():
    with open(os.path.join(HERE, "rules.txt")) as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def truth(names):
    """rule -> the final validation accuracy of each of TRUTH_SEEDS (in seed order), and the seconds of its runs
    (tuning included)."""
    acc = {r: [] for r in names}
    seconds = {r: 0.0 for r in names}
    with open(os.path.join(HERE, "truth", "runs.jsonl")) as f:
        for line in f:
            run = json.loads(line)
            rec = run["record"]
            if rec["rule"] not in acc:
                continue
            if run["phase"] == "tune":
                seconds[rec["rule"]] += rec["seconds"]
            elif rec["seed"] in TRUTH_SEEDS:
                acc[rec["rule"]].append((rec["seed"], rec["reward"]))
                seconds[rec["rule"]] += rec["seconds"]
    missing = [r for r in names if len(acc[r]) != len(TRUTH_SEEDS)]
    if missing:
        sys.exit("table.py: truth/ lacks seeds %s of %s (resume: nos compare --config "
                 "configs/fidelity-cifar10-truth.yaml --out docs/results/cifar10-fidelity/truth)"
                 % (TRUTH_SEEDS, ", ".join(missing)))
    return {r: [reward for _, reward in sorted(acc[r])] for r in names}, seconds


def proxy(name, names, seeds=None):
    """rule -> mean reward over the proxy's seeds (or the first `seeds` of them), and the seconds of those runs."""
    score, seconds = {}, {}
    for i, rule in enumerate(names, start=1):
        files = sorted(glob.glob(os.path.join(HERE, "proxies", name, "rule%02d-s*.json" % i)))
        records = [json.load(open(p)) for p in files]
        records.sort(key=lambda r: r["seed"])
        if seeds is not None:
            records = records[:seeds]
        if not records or (seeds is not None and len(records) < seeds):
            return None, None
        for r in records:
            if r["rule"] != rule:
                sys.exit("table.py: %s holds rule %r, rules.txt line %d says %r" % (files[0], r["rule"], i, rule))
        score[rule] = statistics.mean(r["reward"] for r in records)
        seconds[rule] = sum(r["seconds"] for r in records)
    return score, seconds


def ranks(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def pearson(x, y):
    mx, my = statistics.mean(x), statistics.mean(y)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / (sxx * syy) ** 0.5 if sxx > 0 and syy > 0 else float("nan")


def spearman(x, y):
    return pearson(ranks(x), ranks(y))


def bootstrap(x, y, n=2000, seed=0):
    rng = random.Random(seed)
    values = []
    for _ in range(n):
        idx = [rng.randrange(len(x)) for _ in x]
        rho = spearman([x[i] for i in idx], [y[i] for i in idx])
        if rho == rho:
            values.append(rho)
    values.sort()
    return values[int(0.05 * len(values))], values[int(0.95 * len(values)) - 1]


def top(score, names, k=5):
    return set(sorted(names, key=lambda r: -score[r])[:k])


def main():
    names = rules()
    per_seed, reference_seconds = truth(names)
    reference = {r: statistics.mean(per_seed[r]) for r in names}
    proxies = [
        ("10k x 1 epoch, 1 seed", "p10k", 1),
        ("10k x 1 epoch, mean of 2 seeds", "p10k", 2),
        ("10k x 1 epoch, mean of 3 seeds", "p10k", 3),
        ("20k x 1 epoch, 1 seed", "p20k", 1),
        ("10k x 1 epoch bfloat16, 1 seed", "p10k-bf16", 1),
        ("10k x 1 epoch bfloat16, mean of 3 seeds", "p10k-bf16", 3),
        ("10k x 3 epochs bfloat16, 1 seed", "p10k-3ep-bf16", 1),
        ("10k x 3 epochs bfloat16, mean of 3 seeds", "p10k-3ep-bf16", 3),
        ("45k x 1 epoch bfloat16, 1 seed", "p45k-bf16", 1),
    ]
    truth_cost = statistics.mean(reference_seconds.values())
    print("| proxy | Spearman ρ (90 % bootstrap) | top-5 overlap | s per rule | cost vs protocol |")
    print("|---|---|---|---|---|")
    best5 = top(reference, names)
    scored = {}
    for label, name, seeds in proxies:
        score, seconds = proxy(name, names, seeds)
        if score is None:
            print("| %s | not measured yet | | | |" % label)
            continue
        scored[(name, seeds)] = score
        x = [score[r] for r in names]
        y = [reference[r] for r in names]
        lo, hi = bootstrap(x, y)
        cost = statistics.mean(seconds.values())
        print("| %s | %.2f (%.2f … %.2f) | %d / 5 | %.0f | %.3f |"
              % (label, spearman(x, y), lo, hi, len(top(score, names) & best5), cost, cost / truth_cost))
    # The protocol against itself: one of its seeds against the mean of the other two, each way; how well any proxy
    # could agree with a reference that is itself a mean of 3 noisy seeds.
    halves = []
    for k in range(len(TRUTH_SEEDS)):
        one = [per_seed[r][k] for r in names]
        rest = [statistics.mean(v for j, v in enumerate(per_seed[r]) if j != k) for r in names]
        overlap = top(dict(zip(names, one)), names) & top(dict(zip(names, rest)), names)
        halves.append((spearman(one, rest), len(overlap)))
    print("| the protocol, one seed against the mean of its other two (each seed in turn) | %s | %s | %.0f | %.2f |"
          % (" / ".join("%.2f" % h[0] for h in halves), " / ".join("%d" % h[1] for h in halves),
             truth_cost / len(TRUTH_SEEDS), 1 / len(TRUTH_SEEDS)))
    print("| the protocol (45k x 5 epochs, lr tuned by 1 epoch over 6 lrs, mean of 3 seeds) | 1 | 5 / 5 | %.0f | 1 |"
          % truth_cost)
    print()
    print("Per rule: the protocol's mean validation accuracy (seeds %s) and each proxy's score, by the protocol's "
          "order." % ", ".join(map(str, TRUTH_SEEDS)))
    print()
    header = ["rule", "protocol"] + ["%s/%d" % key for key in scored]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in sorted(names, key=lambda r: -reference[r]):
        cells = ["`%s`" % r, "%.4f" % reference[r]] + ["%.4f" % scored[key][r] for key in scored]
        print("| " + " | ".join(cells) + " |")
    if ("p10k", 3) in scored and ("p10k-bf16", 3) in scored:
        f32 = [scored[("p10k", 3)][r] for r in names]
        b16 = [scored[("p10k-bf16", 3)][r] for r in names]
        lo, hi = bootstrap(f32, b16)
        diffs = [b - f for b, f in zip(b16, f32)]
        print()
        print("bfloat16 against float32 on the same proxy and seeds (mean of 3): Spearman ρ %.2f (90 %% bootstrap "
              "%.2f … %.2f); per-rule difference bfloat16 − float32 mean %+.4f, sd %.4f, range %+.4f … %+.4f."
              % (spearman(f32, b16), lo, hi, statistics.mean(diffs), statistics.stdev(diffs), min(diffs), max(diffs)))


if __name__ == "__main__":
    main()
