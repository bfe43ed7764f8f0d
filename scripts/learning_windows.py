#!/usr/bin/env python3
"""The learning curves of a sweep's runs in 50-epoch windows: per row and seed, the mean
validation accuracy and mean training loss of epochs 1–50, 51–100, …, and where the run stopped.
What a curve does late (still climbing, flat, falling while the loss falls) is what says whether
more epochs, more capacity or earlier stopping would help; this puts it in numbers.

   scripts/learning_windows.py [--window 50] SUMMARY.json|RUN_DIR... > FILE
   scripts/learning_windows.py results/sweeps/distill/summary.json results/distill/long/mlp3d-e1000 \
       > results/distill/learning-windows.json

A summary contributes every run of every row; a run directory stands alone (its row: the path).
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def local(run):
    """A summary's run path on this checkout (the part from `results/` on)."""
    i = run.find("results/")
    return os.path.join(ROOT, run[i:]) if i >= 0 else run


def windows(metrics, width):
    epochs = [r for r in metrics if "epoch" in r and "val_accuracy" in r]
    out = []
    for start in range(1, (epochs[-1]["epoch"] if epochs else 0) + 1, width):
        part = [r for r in epochs if start <= r["epoch"] < start + width]
        if not part:
            continue
        out.append({
            "epochs": [start, part[-1]["epoch"]],
            "val_accuracy_mean": round(sum(r["val_accuracy"] for r in part) / len(part), 4),
            "train_loss_mean": round(sum(r["train_loss"] for r in part) / len(part), 4),
        })
    return out


def run_entry(row, run, width):
    path = os.path.join(run, "metrics.jsonl")
    if not os.path.exists(path):
        return None
    metrics = [json.loads(line) for line in open(path) if line.strip()]
    kept = next((r for r in metrics if "kept_epoch" in r), None)
    return {
        "row": row,
        "run": os.path.relpath(run, ROOT),
        "windows": windows(metrics, width),
        "kept_epoch": kept and kept["kept_epoch"],
        "epochs_trained": kept and kept["epochs_trained"],
        "early_stopped": kept and kept["early_stopped"],
        "test_accuracy": kept and kept["test_accuracy"],
    }


def main():
    args = sys.argv[1:]
    width = 50
    if args[:1] == ["--window"]:
        width, args = int(args[1]), args[2:]
    rows = []
    for source in args:
        if os.path.isdir(source):
            entries = [(os.path.relpath(os.path.abspath(source), ROOT), os.path.abspath(source))]
        else:
            summary = json.load(open(source))
            entries = [(row["name"], local(run)) for row in summary["rows"] for run in row.get("runs", [])]
        for row, run in entries:
            entry = run_entry(row, run, width)
            if entry:
                rows.append(entry)
    print(json.dumps({
        "command": " ".join(["scripts/learning_windows.py"] + (["--window", str(width)] if width != 50 else [])
                            + [os.path.relpath(os.path.abspath(a), ROOT) for a in args]),
        "window": width,
        "runs": rows,
    }, indent=1))


if __name__ == "__main__":
    main()
