#!/usr/bin/env python3
"""What regenerating the paper cost on this machine: every run behind the summaries of the
given specs, each counted once (Table 1, Table 3 and Fig. 5 share runs).

    scripts/paper_cost.py [--specs table1,table2,table3,fig5] [--results results]
                          [--out results/sweeps/paper-cost.json]

A run trained by `neuropos sweep` has `timing.jsonl`: the wall and CPU seconds of each training
process, measured by the sweep (wait4). A reused zoo checkpoint has only the training seconds its
epochs logged (`metrics.jsonl`; per-epoch evaluation not included, CPU time not recorded); those
are reported apart and never mixed into the measured total. Prints a table and writes OUT.
"""

import argparse
import json
import os


def load_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--specs", default="table1,table2,table3,fig5")
    p.add_argument("--results", default="results/sweeps")
    p.add_argument("--out", default="results/sweeps/paper-cost.json")
    a = p.parse_args()
    runs = {}
    missing = []
    for spec in a.specs.split(","):
        path = os.path.join(a.results, spec, "summary.json")
        if not os.path.exists(path):
            missing.append(spec)
            continue
        with open(path) as f:
            summary = json.load(f)
        if summary["overrides"].get("epochs") or summary["overrides"].get("train_limit"):
            raise SystemExit(f"{path}: a quick version (--epochs/--train-limit), not the paper's")
        for row in summary["rows"]:
            if row.get("prune_percent") is not None:
                continue
            for run, seed in zip(row["runs"], row["seeds"]):
                runs.setdefault(run, {"spec": spec, "row": row["name"], "seed": seed})
    measured = {"runs": 0, "wall_seconds": 0.0, "cpu_seconds": 0.0, "threads": set()}
    logged = {"runs": 0, "train_seconds": 0.0}
    per_run = []
    for run, where in sorted(runs.items()):
        timing = os.path.join(run, "timing.jsonl")
        if os.path.exists(timing):
            segments = load_jsonl(timing)
            wall = sum(s["wall_seconds"] for s in segments)
            cpu = sum(s["cpu_seconds"] or 0.0 for s in segments)
            measured["runs"] += 1
            measured["wall_seconds"] += wall
            measured["cpu_seconds"] += cpu
            measured["threads"].update(s["threads"] for s in segments)
            per_run.append({"run": run, **where, "wall_seconds": round(wall, 1),
                            "cpu_seconds": round(cpu, 1)})
        else:
            train = sum(r.get("train_seconds", 0.0)
                        for r in load_jsonl(os.path.join(run, "metrics.jsonl")))
            logged["runs"] += 1
            logged["train_seconds"] += train
            per_run.append({"run": run, **where, "logged_train_seconds": round(train, 1)})
    measured["threads"] = sorted(measured["threads"])
    # The whole paper as one sweep would run it: a reused zoo run counted at the mean process
    # time of its row's sweep-trained seeds (the zoo's own logs come from older, slower code and
    # two threads), and the runs two at a time on the two cores (results/performance/sweep-jobs-threads.jsonl).
    by_row = {}
    for r in per_run:
        if "wall_seconds" in r:
            by_row.setdefault((r["spec"], r["row"]), []).append(r["wall_seconds"])
    whole, unmatched = measured["wall_seconds"], []
    for r in per_run:
        if "logged_train_seconds" in r:
            seeds = by_row.get((r["spec"], r["row"]))
            if seeds:
                whole += sum(seeds) / len(seeds)
            else:
                unmatched.append(r["run"])
    out = {
        "specs": a.specs.split(","),
        "missing_specs": missing,
        "runs": len(runs),
        "measured": {**measured, "cpu_hours": round(measured["cpu_seconds"] / 3600, 2),
                     "wall_seconds": round(measured["wall_seconds"], 1),
                     "cpu_seconds": round(measured["cpu_seconds"], 1)},
        "reused_zoo": {**logged, "train_hours": round(logged["train_seconds"] / 3600, 2),
                       "train_seconds": round(logged["train_seconds"], 1)},
        "whole_paper_projection": {
            "process_hours": round(whole / 3600, 2),
            "jobs": 2,
            "wall_hours_two_at_once": round(whole / 3600 / 2, 2),
            "zoo_runs_without_a_measured_seed": unmatched,
        },
        "command": f"scripts/paper_cost.py --specs {a.specs}",
        "per_run": per_run,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    m, z = out["measured"], out["reused_zoo"]
    print(f"{len(runs)} runs behind {', '.join(out['specs'])}"
          + (f" (no summary yet: {', '.join(missing)})" if missing else ""))
    print(f"  trained by the sweep: {m['runs']} runs, {m['cpu_hours']} CPU-hours "
          f"({m['wall_seconds'] / 3600:.2f} h of process time, {m['threads']} thread(s) each)")
    print(f"  reused zoo checkpoints: {z['runs']} runs, {z['train_hours']} h of logged training")
    w = out["whole_paper_projection"]
    print(f"  the whole set as one sweep (zoo runs at their rows' measured seeds): "
          f"{w['process_hours']} process-hours, {w['wall_hours_two_at_once']} h two at a time"
          + (f"; no measured seed for {', '.join(unmatched)}" if unmatched else ""))


if __name__ == "__main__":
    main()
