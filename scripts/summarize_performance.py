#!/usr/bin/env python3
"""Summarises interleaved A/B performance lines (scripts/performance_ab.sh) as a markdown
table: per benchmark and binary, the median over its runs (and the range).
   scripts/summarize_performance.py results/performance/performance-ab-layout.jsonl"""
import json
import statistics
import sys
from collections import defaultdict

rows = defaultdict(lambda: defaultdict(list))
order = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "ms_per_step" in r:
        key = (r["model"], r["product"], r["threads"], "ms per step")
        value = r["ms_per_step"]
    elif "ms_per_10k_images" in r:
        key = (r["model"], f'{r["product"]} tile {r.get("tile")}', r["threads"], "ms per 10k images")
        value = r["ms_per_10k_images"]
    else:
        continue
    if key not in order:
        order.append(key)
    rows[key][r["binary"]].append(value)

binaries = []
for key in order:
    for b in rows[key]:
        if b not in binaries:
            binaries.append(b)
print("| benchmark | path | threads | unit | " + " | ".join(f"`{b}` median (range, n)" for b in binaries) + " |")
print("|---|---|---:|---|" + "---:|" * len(binaries))
for key in order:
    cells = []
    for b in binaries:
        v = rows[key][b]
        cells.append(f"{statistics.median(v):.1f} ({min(v):.1f}–{max(v):.1f}, {len(v)})" if v else "")
    model, path, threads, unit = key
    print(f"| {model} | {path} | {threads} | {unit} | " + " | ".join(cells) + " |")
