#!/usr/bin/python3
"""Issue 18: do PowerSign/AddSign-family rules (a product sign(g)*sign(m) or sign(m)*sign(g), with any decay or
function around it) appear among the proposals and among each proposer's best rules?

Usage: /usr/bin/python3 docs/results/search-fmnist/family.py docs/results/search-fmnist [PROPOSER,...]
(the proposers whose PROPOSER-seed* folders are read; default random,controller,ppo,evolution)
"""
import glob
import os
import re
import sqlite3
import sys

FAMILY = re.compile(r"sign\((g|m(\([0-9.]+\))?)\)\*sign\((g|m(\([0-9.]+\))?)\)")


def in_family(rule):
    return bool(rule) and any(a != b for a, b in [(m.group(1), m.group(3)) for m in FAMILY.finditer(rule)])


PROPOSERS = ["random", "controller", "ppo", "evolution"]


def main(folder=None, proposers=None):
    folder = folder or sys.argv[1]
    proposers = proposers or (sys.argv[2].split(",") if len(sys.argv) > 2 else PROPOSERS)
    print("| proposer | proposals | family proposals | distinct family rules | best family rule (reward) | "
          "family rules in the proposer's top 10 |")
    print("|---|---|---|---|---|---|")
    for proposer in proposers:
        rows = []
        for db in sorted(glob.glob(os.path.join(folder, f"{proposer}-seed*", "search.db"))):
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            rows += con.execute("SELECT canonical, reward, status FROM evaluations").fetchall()
            con.close()
        family = [r for r in rows if in_family(r[0])]
        best = {}
        for rule, reward, status in rows:
            if status == "ok" and rule:
                best[rule] = max(best.get(rule, -1e9), reward)
        top = sorted(best.items(), key=lambda kv: -kv[1])[:10]
        fam_best = max(((r, w) for r, w in best.items() if in_family(r)), key=lambda kv: kv[1], default=None)
        print("| %s | %d | %d | %d | %s | %d |" % (
            proposer, len(rows), len(family), len({r[0] for r in family}),
            "`%s` (%.4f)" % fam_best if fam_best else "none", sum(1 for r, _ in top if in_family(r))))


if __name__ == "__main__":
    main()
