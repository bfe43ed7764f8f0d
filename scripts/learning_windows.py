#!/usr/bin/env python3
"""The learning curves of a sweep's runs in 50-epoch windows: per row and seed, the mean
validation accuracy and mean training loss of epochs 1–50, 51–100, …, and where the run stopped.
What a curve does late (still climbing, flat, falling while the loss falls) is what says whether
more epochs, more capacity or earlier stopping would help; this puts it in numbers.

   scripts/learning_windows.py results/sweeps/distill/summary.json [WINDOW=50] \
       > results/distill/learning-windows.json
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


def main():
    summary_path = sys.argv[1]
    width = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    summary = json.load(open(summary_path))
    rows = []
    for row in summary["rows"]:
        for run in row.get("runs", []):
            path = os.path.join(local(run), "metrics.jsonl")
            if not os.path.exists(path):
                continue
            metrics = [json.loads(line) for line in open(path) if line.strip()]
            kept = next((r for r in metrics if "kept_epoch" in r), None)
            rows.append({
                "row": row["name"],
                "run": os.path.relpath(local(run), ROOT),
                "windows": windows(metrics, width),
                "kept_epoch": kept and kept["kept_epoch"],
                "epochs_trained": kept and kept["epochs_trained"],
                "early_stopped": kept and kept["early_stopped"],
            })
    print(json.dumps({
        "command": f"scripts/learning_windows.py {os.path.relpath(summary_path, ROOT)} {width}",
        "window": width,
        "runs": rows,
    }, indent=1))


if __name__ == "__main__":
    main()
