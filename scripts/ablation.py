#!/usr/bin/env python3
"""The recipe ablation: one change at a time against the paper's recipe, every choice scored on
the validation split (the last 10,000 training images), the test set once per final model.

    scripts/ablation.py [--epochs 30] [--seeds 0] [--only NAME,…]
                        [--runs results/accuracy/runs] [--out results/accuracy]
    scripts/ablation.py --table     # OUT/README.md from the tables and results/sweeps/best

Each variant is one `neuropos train … --val-split 10000` run in RUNS/<name>-e<E>/seed<S>; a run
whose checkpoint says it completed is read, not trained again, and an interrupted one is
resumed (`train --resume`), so the script can be stopped and started. The runs are small (a
checkpoint of ~50 kB) and committed beside the table, so later sessions read them instead of
training again. Writes OUT/ablation-e<E>.csv and .jsonl: per variant and seed the flags, the
final and best validation accuracy (and its epoch), the test accuracy after the last epoch, and
the training seconds; rows already in the .jsonl whose runs are not here (trained before the
runs were kept) stay as they were. NEUROPOS_BIN picks the binary (default
target/release/neuropos).
"""

import argparse
import csv
import json
import os
import subprocess
import sys

VAL_SPLIT = 10000

# (name, kind flags, recipe flags): each row changes one thing against its model's paper row.
VARIANTS = [
    ("mlp3d-paper", "--model mlp3d", ""),
    ("mlp3d-cosine", "--model mlp3d", "--lr-schedule cosine"),
    ("mlp3d-cosine-warmup2", "--model mlp3d", "--lr-schedule cosine --warmup-epochs 2"),
    ("mlp3d-lr0.01", "--model mlp3d", "--lr 0.01"),
    ("mlp3d-lr0.01-cosine", "--model mlp3d", "--lr 0.01 --lr-schedule cosine"),
    ("mlp3d-lr0.0025", "--model mlp3d", "--lr 0.0025"),
    ("mlp3d-smooth0.1", "--model mlp3d", "--label-smoothing 0.1"),
    ("mlp3d-coord5", "--model mlp3d", "--coord-init 5"),
    ("mlp3d-coord20", "--model mlp3d", "--coord-init 20"),
    ("mlp3d-grid", "--model mlp3d", "--coord-layout grid"),
    ("mlp3d-inhib0.5", "--model mlp3d", "--inhibition-init 0.5"),
    ("mlp3d-k5", "--model mlp3d", "--steepness 5"),
    ("mlp3d-k20", "--model mlp3d", "--steepness 20"),
    ("mlp3d-batch300", "--model mlp3d", "--batch-size 300"),
    ("mlp3d-batch1200", "--model mlp3d", "--batch-size 1200"),
    ("mlp14-paper", "--model mlp --hidden 14", ""),
    ("mlp14-cosine", "--model mlp --hidden 14", "--lr-schedule cosine"),
    ("mlp14-lr0.003", "--model mlp --hidden 14", "--lr 0.003"),
    ("mlp14-lr0.003-cosine", "--model mlp --hidden 14", "--lr 0.003 --lr-schedule cosine"),
    # Round 2: the two changes that helped the 3D MLP, together and further; the same for the
    # relaxed model and the spiking one, and the baselines they are held against.
    ("mlp3d-lr0.01-batch300", "--model mlp3d", "--lr 0.01 --batch-size 300"),
    ("mlp3d-lr0.02", "--model mlp3d", "--lr 0.02"),
    ("mlp3d-batch150", "--model mlp3d", "--batch-size 150"),
    ("mlp3d-lr0.01-batch150", "--model mlp3d", "--lr 0.01 --batch-size 150"),
    ("mlp3d-relaxed-paper", "--model mlp3d-relaxed", ""),
    ("mlp3d-relaxed-lr0.01-batch300", "--model mlp3d-relaxed", "--lr 0.01 --batch-size 300"),
    ("mlp3d-relaxed-lr0.01-batch300-axis10", "--model mlp3d-relaxed",
     "--lr 0.01 --batch-size 300 --axis-lr-scale 10"),
    ("mlp17-paper", "--model mlp --hidden 17", ""),
    ("mlp17-lr0.003", "--model mlp --hidden 17", "--lr 0.003"),
    ("mlp14-lr0.003-batch300", "--model mlp --hidden 14", "--lr 0.003 --batch-size 300"),
    ("snn3d-paper", "--model snn3d", ""),
    ("snn3d-lr0.01-batch300", "--model snn3d", "--lr 0.01 --batch-size 300"),
    ("snn3d-count", "--model snn3d", "--snn-loss count"),
    ("snn14-paper", "--model snn --hidden 14", ""),
    ("snn14-count", "--model snn --hidden 14", "--snn-loss count"),
    # Round 3: augmentation (its own column: every chosen recipe with and without ±2 px
    # shifts), the SNN's readout and T, and the chosen recipes of the baselines.
    ("mlp3d-lr0.02-shift2", "--model mlp3d", "--lr 0.02 --augment-shift 2"),
    ("mlp3d-relaxed-lr0.01-batch300-axis10-shift2", "--model mlp3d-relaxed",
     "--lr 0.01 --batch-size 300 --axis-lr-scale 10 --augment-shift 2"),
    ("mlp14-lr0.003-batch300-shift2", "--model mlp --hidden 14",
     "--lr 0.003 --batch-size 300 --augment-shift 2"),
    ("mlp17-lr0.003-batch300", "--model mlp --hidden 17", "--lr 0.003 --batch-size 300"),
    ("mlp17-lr0.003-batch300-shift2", "--model mlp --hidden 17",
     "--lr 0.003 --batch-size 300 --augment-shift 2"),
    ("snn3d-lr0.01-batch300-membrane", "--model snn3d",
     "--lr 0.01 --batch-size 300 --readout membrane"),
    ("snn3d-lr0.01-batch300-T10", "--model snn3d", "--lr 0.01 --batch-size 300 --time-steps 10"),
    ("snn3d-lr0.01-batch300-T50", "--model snn3d", "--lr 0.01 --batch-size 300 --time-steps 50"),
    ("snn14-batch300", "--model snn --hidden 14", "--batch-size 300"),
    ("snn14-batch300-membrane", "--model snn --hidden 14", "--batch-size 300 --readout membrane"),
    # Round 4: the annealed mask steepness and a step schedule, not covered above.
    ("mlp3d-k5to20", "--model mlp3d", "--steepness 5 --steepness-final 20"),
    ("mlp3d-step10", "--model mlp3d", "--lr-schedule step:10:0.5"),
    ("mlp3d-lr0.02-step10", "--model mlp3d", "--lr 0.02 --lr-schedule step:10:0.5"),
    # The encoders cost 10-20x a direct-input step (results/performance/encoder-cost.jsonl), so they are
    # compared at 10 epochs (`--epochs 10`), each against direct input at the same budget.
    ("snn3d-lr0.01-batch300-rate", "--model snn3d", "--lr 0.01 --batch-size 300 --encoder rate"),
    ("snn3d-lr0.01-batch300-latency", "--model snn3d",
     "--lr 0.01 --batch-size 300 --encoder latency"),
    ("snn14-batch300-rate", "--model snn --hidden 14", "--batch-size 300 --encoder rate"),
    ("snn14-batch300-latency", "--model snn --hidden 14", "--batch-size 300 --encoder latency"),
]


def complete(run):
    try:
        with open(os.path.join(run, "config.json")) as f:
            t = json.load(f)["training"]
    except (OSError, KeyError, ValueError):
        return False
    return t["epochs_completed"] >= t["epochs_planned"] and not t.get("interrupted")


def model_of(kind_flags):
    """`--model mlp --hidden 14` → `mlp` 14; `--model mlp3d` → `mlp3d`."""
    words = kind_flags.split()
    kind = words[words.index("--model") + 1]
    if "--hidden" in words:
        return f"`{kind}` {words[words.index('--hidden') + 1]}"
    return f"`{kind}`"


def augmentation(change):
    words = change.split()
    if "--augment-shift" in words:
        return f"±{words[words.index('--augment-shift') + 1]} px"
    return "—"


def without_augmentation(change):
    words = change.split()
    if "--augment-shift" in words:
        i = words.index("--augment-shift")
        del words[i:i + 2]
    return " ".join(words) or "(the paper's recipe)"


def code(change):
    return change if change.startswith("(") else f"`{change}`"


def mean_std(values):
    m = sum(values) / len(values)
    if len(values) < 2:
        return f"{m:.4f}"
    sd = (sum((v - m) ** 2 for v in values) / (len(values) - 1)) ** 0.5
    return f"{m:.4f} ± {sd:.4f}"


def table(out, best_summary, paper_summaries):
    """OUT/README.md: every ablation-e*.jsonl as one table per budget (the augmentation in its
    own column), and the final three-seed runs of BEST_SUMMARY beside the paper's recipe
    (PAPER_SUMMARIES: the sweep summaries of Tables 1-3)."""
    kinds = {name: kind for name, kind, _ in VARIANTS}
    lines = [
        "# The recipe ablation",
        "",
        "Written by `scripts/ablation.py --table` from the files beside it; every number is a",
        "`neuropos train` run whose checkpoint is in `runs/` (or, for the final rows, in",
        "`../runs/`, trained by `neuropos sweep specs/best.toml --jobs 2`).",
        "",
        "Every choice is made on the validation split — the last 10,000 training images, `train",
        "--val-split 10000` (training on the other 50,000) — and the test set is scored once per",
        "run, after its last epoch. The test column is never used to choose.",
        "",
        "A 30-epoch choice becomes `train --recipe best` (models/src/recipe.rs) only where its",
        "validation mean at the paper's epochs also beats the paper's recipe there (the 300- and",
        "200-epoch tables); elsewhere `--recipe best` is the paper's recipe.",
        "",
    ]
    if best_summary and os.path.exists(best_summary):
        with open(best_summary) as f:
            summary = json.load(f)
        paper = {}
        for path in paper_summaries:
            if os.path.exists(path):
                with open(path) as f:
                    for row in json.load(f)["rows"]:
                        if row.get("mean") is not None and not row.get("prune_percent"):
                            paper.setdefault(row["kind"] + str(row.get("params")), (path, row))
        lines += [
            f"## Final runs: the chosen recipes at the paper's epochs (`{best_summary}`)",
            "",
            "| row | parameters | epochs | seeds | validation | test | the paper's recipe, test (60,000 images) |",
            "|---|---:|---:|---|---:|---:|---:|",
        ]
        for row in summary["rows"]:
            if not row["seeds"]:
                lines.append(f"| {row['name']} | | | none yet | | | |")
                continue
            val = (f"{row['val_mean']:.4f} ± {row['val_std']:.4f}"
                   if row.get("val_mean") is not None else "—")
            test = f"{row['mean']:.4f} ± {row['std']:.4f}" if len(row["seeds"]) > 1 else f"{row['mean']:.4f}"
            ref = paper.get(row["kind"] + str(row["params"]))
            ref_cell = "—"
            if ref:
                spread = f" ± {ref[1]['std']:.4f}" if ref[1].get("std") is not None else ""
                seeds = ", ".join(map(str, ref[1]["seeds"]))
                ref_cell = f"{ref[1]['mean']:.4f}{spread} (seeds {seeds}, `{ref[0]}`)"
            seeds = ", ".join(map(str, row["seeds"]))
            lines.append(f"| {row['name']} | {row['params']:,} | {row['epochs']} | {seeds} | {val} | "
                         f"**{test}** | {ref_cell} |")
        lines.append("")
    # The search (30 epochs, the encoders at 10) first, then the full-length checks.
    budgets = sorted((p for p in os.listdir(out) if p.startswith("ablation-e") and p.endswith(".jsonl")),
                     key=lambda p: {"30": 0, "10": 1}.get(p[len("ablation-e"):-len(".jsonl")], 2))
    for path in budgets:
        epochs = path[len("ablation-e"):-len(".jsonl")]
        with open(os.path.join(out, path)) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        by_variant = {}
        for r in rows:
            by_variant.setdefault(r["variant"], []).append(r)
        lines += [
            f"## {epochs} epochs (`{path}`, `scripts/ablation.py --epochs {epochs}`)",
            "",
            f"Each row is `neuropos train <model> <change> --epochs {epochs} --seed S --val-split 10000`.",
            "",
            "| model | change | augmentation | seeds | validation (last epoch) | best validation (epoch) | test |",
            "|---|---|---|---|---:|---:|---:|",
        ]
        order = {}
        for variant in by_variant:
            order.setdefault(model_of(kinds[variant]) if variant in kinds else variant, len(order))
        ranked = sorted(by_variant.items(),
                        key=lambda kv: order[model_of(kinds[kv[0]]) if kv[0] in kinds else kv[0]])
        for variant, rs in ranked:
            model = model_of(kinds[variant]) if variant in kinds else variant
            seeds = ", ".join(str(r["seed"]) for r in rs)
            best = max(rs, key=lambda r: r["best_val_accuracy"])
            lines.append(
                f"| {model} | {code(without_augmentation(rs[0]['change']))} | {augmentation(rs[0]['change'])} | "
                f"{seeds} | {mean_std([r['final_val_accuracy'] for r in rs])} | "
                f"{best['best_val_accuracy']:.4f} ({best['best_val_epoch']}) | "
                f"{mean_std([r['test_accuracy'] for r in rs])} |")
        lines.append("")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", action="store_true",
                   help="only write OUT/README.md from the .jsonl files and the final summary")
    p.add_argument("--best", default="results/sweeps/best/summary.json")
    p.add_argument("--paper", default="results/sweeps/table1/summary.json,results/sweeps/table2/summary.json,"
                   "results/sweeps/table3/summary.json")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seeds", default="0")
    p.add_argument("--only", default="")
    p.add_argument("--runs", default="results/accuracy/runs")
    p.add_argument("--out", default="results/accuracy")
    a = p.parse_args()
    if a.table:
        table(a.out, a.best, a.paper.split(","))
        return
    binary = os.environ.get("NEUROPOS_BIN", "target/release/neuropos")
    only = set(filter(None, a.only.split(",")))
    seeds = [int(s) for s in a.seeds.split(",")]
    stem = os.path.join(a.out, f"ablation-e{a.epochs}")
    earlier = {}
    if os.path.exists(stem + ".jsonl"):
        with open(stem + ".jsonl") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    earlier[(r["variant"], r["seed"])] = r
    rows = []
    for name, kind, recipe in VARIANTS:
        for seed in seeds:
            run = os.path.join(a.runs, f"{name}-e{a.epochs}", f"seed{seed}")
            flags = f"{kind} {recipe} --epochs {a.epochs} --seed {seed} --val-split {VAL_SPLIT}"
            command = f"neuropos train {' '.join(flags.split())} --device cpu --out DIR"
            # Outside --only, finished runs are still reported, unfinished ones left alone.
            if not complete(run) and name not in only:
                # Recorded earlier (its run not kept): reported, not trained twice.
                if (name, seed) in earlier:
                    rows.append(earlier[(name, seed)])
                    continue
                if only:
                    continue
            if not complete(run):
                if os.path.exists(os.path.join(run, "run.json")):
                    cmd = [binary, "train", "--resume", run, "--device", "cpu"]
                else:
                    cmd = [binary, "train", *flags.split(), "--device", "cpu", "--out", run,
                           "--force"]
                print(f"{name} seed {seed}: training", file=sys.stderr, flush=True)
                subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
            with open(os.path.join(run, "metrics.jsonl")) as f:
                log = [json.loads(line) for line in f if line.strip()]
            val = [r["val_accuracy"] for r in log if "val_accuracy" in r]
            best = max(range(len(val)), key=lambda i: val[i])
            row = {
                "variant": name,
                "seed": seed,
                "epochs": len(val),
                "change": recipe or "(the paper's recipe)",
                "final_val_accuracy": val[-1],
                "best_val_accuracy": val[best],
                "best_val_epoch": best + 1,
                "test_accuracy": log[-1]["test_accuracy"],
                "train_seconds": round(sum(r.get("train_seconds", 0.0) for r in log), 1),
                "command": command,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    os.makedirs(a.out, exist_ok=True)
    with open(stem + ".jsonl", "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    with open(stem + ".csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
