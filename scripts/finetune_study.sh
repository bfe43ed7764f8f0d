#!/usr/bin/env bash
# What `train --init-from` should default to: the shipped mlp3d, snn3d and mlp-h14 fine-tuned
# for 5 epochs at four learning rates with a fresh Adam, 10,000 training images held out for
# validation. One JSON line per run: the shipped checkpoint's test accuracy, the validation
# accuracy after each epoch, and the test accuracy at the end. The shipped checkpoints were
# trained on all 60,000 images, the held-out ones included, so validation accuracy here measures
# how much of what was learned survives, not generalisation; the test accuracy is reported beside
# it and was not used to choose.
#   scripts/finetune_study.sh > results/accuracy/finetune.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${NEUROPOS_BIN:-target/release/neuropos}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for model in mlp3d mlp-h14 snn3d; do
    before=$("$bin" eval "checkpoints/$model" --format json 2>/dev/null \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["accuracy"])')
    for lr in 0.005 0.002 0.001 0.0005; do
        out="$work/$model-$lr"
        "$bin" train --init-from "checkpoints/$model" --epochs 5 --lr "$lr" --val-split 10000 \
            --recipe paper --out "$out" >/dev/null 2>&1
        python3 - "$out/metrics.jsonl" "$model" "$lr" "$before" <<'PY'
import json, sys
path, model, lr, before = sys.argv[1:5]
# Line 0 is the loaded checkpoint scored before any step (on the test set).
rows = [r for r in map(json.loads, open(path)) if r.get("epoch", 0) >= 1]
print(json.dumps({
    "checkpoint": f"checkpoints/{model}", "epochs": len(rows), "lr": float(lr),
    "test_accuracy_before": float(before),
    "val_accuracy": [r.get("val_accuracy") for r in rows],
    "test_accuracy_after": rows[-1].get("test_accuracy"),
    "command": f"neuropos train --init-from checkpoints/{model} --epochs 5 --lr {lr} --val-split 10000 --recipe paper",
}))
PY
    done
done
