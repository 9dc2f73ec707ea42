#!/usr/bin/python3
"""Issue 18, step 2: the best 2 distinct rules of each proposer, pooled over its seeds, into funnel.yaml.

Usage: /usr/bin/python3 docs/results/search-fmnist/select.py [--smoke] [--proposers P,...] [--baselines R,...]
                        [--template FILE] FOLDER [NOS]
(run.sh calls it; --smoke writes the funnel at run.sh's smoke budget: 1 epoch, 2 seeds, 1,000 training images)
--proposers (default random,controller,ppo,evolution) and --baselines (default adam,torch-adamw,powersign) name the
run folders' proposers and the rules compared anyway; --template FILE gives the funnel's settings (a nos compare
config without rules and out, its first comment lines saying what it is) in place of issue 18's Fashion-MNIST
stage (docs/results/search-cifar10/run.sh uses it).
Reads PROPOSER-seedN/search.db (status ok rows), ranks each proposer's canonical rules by their best reward, skips
rules equal to a baseline (adam, adamw, powersign: compared anyway) or already chosen for another proposer, and
writes funnel.yaml (a nos compare config) and selection.md (what was chosen, from where).
"""
import glob
import os
import sqlite3
import subprocess
import sys

PROPOSERS = ["random", "controller", "ppo", "evolution"]
BASELINES = ["adam", "torch-adamw", "powersign"]  # adamw's text is adam's (its λ is an option): the
# compare would call them one rule, so AdamW comes as LibTorch's own class


def canonical(nos, rule):
    out = subprocess.run([nos, "rule", rule], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("canonical: "):
            return line[len("canonical: "):]
    raise SystemExit(f"nos rule {rule!r} printed no canonical line")


def best_rules(folder, proposer):
    best = {}
    for db in sorted(glob.glob(os.path.join(folder, f"{proposer}-seed*", "search.db"))):
        run = os.path.basename(os.path.dirname(db))
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        for rule, reward in con.execute("SELECT canonical, reward FROM evaluations WHERE status = 'ok'"):
            if rule and (rule not in best or reward > best[rule][0]):
                best[rule] = (reward, run)
        con.close()
    return sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))


def options(argv):
    """(smoke, proposers, baselines, template, folder, nos) from the command line."""
    smoke, proposers, baselines, template, rest = False, PROPOSERS, BASELINES, None, []
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--smoke":
            smoke = True
        elif a in ("--proposers", "--baselines", "--template") and args:
            value = args.pop(0)
            if a == "--proposers":
                proposers = value.split(",")
            elif a == "--baselines":
                baselines = value.split(",")
            else:
                template = value
        else:
            rest.append(a)
    if not rest:
        raise SystemExit("usage: select.py [--smoke] [--proposers P,...] [--baselines R,...] [--template FILE] "
                         "FOLDER [NOS]")
    return smoke, proposers, baselines, template, rest[0], rest[1] if len(rest) > 1 else "build/nos"


def main():
    smoke, proposers, baselines, template, folder, nos = options(sys.argv[1:])
    skip = {canonical(nos, b) for b in baselines if not b.startswith("torch-")}
    chosen, rows = [], []
    for proposer in proposers:
        taken = 0
        for rule, (reward, run) in best_rules(folder, proposer):
            if taken == 2:
                break
            if rule in skip or rule in chosen:
                rows.append(f"| {proposer} | `{rule}` | {reward:.4f} | {run} | skipped: "
                            f"{'a baseline' if rule in skip else 'chosen for another proposer'} |")
                continue
            chosen.append(rule)
            taken += 1
            rows.append(f"| {proposer} | `{rule}` | {reward:.4f} | {run} | chosen |")
    with open(os.path.join(folder, "selection.md"), "w") as f:
        f.write("# The rules sent to the funnel stage (select.py)\n\n"
                "| proposer | rule | best search reward | run | |\n|---|---|---|---|---|\n")
        f.write("\n".join(rows) + "\n")
    quoted = "\n".join(f'  - "{rule}"' for rule in chosen)  # rule text has no quotes or backslashes
    if template:
        text = open(template).read()
        lines = text.splitlines(keepends=True)
        head = [line for line in lines if line.startswith("#")]
        body = "".join(line for line in lines if not line.startswith("#"))
        with open(os.path.join(folder, "funnel.yaml"), "w") as f:
            f.write("".join(head) + f"# Written by select.py from {template}.\n"
                    f"#   nos compare --config {folder}/funnel.yaml\n"
                    f"rules:\n{quoted}\n" + "".join(f"  - {b}\n" for b in baselines) + body +
                    f"out: {folder}/funnel\n")
        print(f"{len(chosen)} rules chosen: {', '.join(chosen)}")
        return
    if smoke:
        budget = ("the smoke budget (1,000 training images, 1 epoch, 2 seeds)",
                  "epochs: 1\ntune_epochs: 1\nseeds: 2\nlr_grid: [0.001, 0.01]\ntrain_size: 1000\nvalidation_size: 500\n")
    else:
        budget = ("20,000 training images, 3 epochs, lr tuned with seed 0 for 1 epoch, 5 seeds",
                  "epochs: 3\ntune_epochs: 1\nseeds: 5\nlr_grid: [0.0001, 0.001, 0.01, 0.1, 1]\ntrain_size: 20000\n"
                  "validation_size: 5000\n")
    with open(os.path.join(folder, "funnel.yaml"), "w") as f:
        f.write("# Issue 18, step 3 (written by select.py): each proposer's best 2 distinct rules with tuned adam, adamw\n"
                f"# and powersign on fmnist-convnet, {budget[0]}.\n"
                f"#   nos compare --config {folder}/funnel.yaml\n"
                f"rules:\n{quoted}\n" + "".join(f"  - {b}\n" for b in baselines) +
                "native_references: false\ntask: fmnist-convnet\n" + budget[1] + "jobs: 2\n"
                f"out: {folder}/funnel\n")
    print(f"{len(chosen)} rules chosen: {', '.join(chosen)}")


if __name__ == "__main__":
    main()
