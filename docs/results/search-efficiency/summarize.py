#!/usr/bin/env python3
"""Summarises search runs for issue 15: children trained, training CPU-seconds, cache hits by kind, rejections by
check, best reward and rule. Usage: summarize.py RUN_DIR... (reads RUN_DIR/search.db with Python's sqlite3)."""
import sqlite3
import sys

print("| run | proposals | trained | training s | same-text hits | same-update hits | rejected (probe) | "
      "rejected (Beale) | invalid | best reward | best rule |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for run in sys.argv[1:]:
    db = sqlite3.connect(f"file:{run}/search.db?mode=ro", uri=True)
    rows = db.execute("SELECT status, cached, message, seconds, reward, canonical FROM evaluations").fetchall()
    trained = [r for r in rows if not r[1] and r[0] not in ("invalid", "rejected")]
    seconds = sum(r[3] or 0 for r in trained)
    same_text = sum(1 for r in rows if r[1] and (r[2] or "").startswith("same rule as"))
    same_updates = sum(1 for r in rows if r[1] and (r[2] or "").startswith("same updates as"))
    probe = sum(1 for r in rows if not r[1] and r[0] == "rejected" and (r[2] or "").startswith("probe:"))
    beale = sum(1 for r in rows if not r[1] and r[0] == "rejected" and (r[2] or "").startswith("prefilter:"))
    invalid = sum(1 for r in rows if r[0] == "invalid")
    best = max(rows, key=lambda r: r[4] or 0)
    print(f"| {run} | {len(rows)} | {len(trained)} | {seconds:.0f} | {same_text} | {same_updates} | {probe} | "
          f"{beale} | {invalid} | {best[4]:.4f} | `{best[5]}` |")
