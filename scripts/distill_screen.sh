#!/usr/bin/env bash
# Issue 36's first screen: the 3D MLP at 30 epochs with 10,000 training images held out,
# without distillation and distilled from checkpoints/mlp-h2048 at T ∈ {2, 4} × A ∈ {0.5, 0.9}.
# One JSON line per run: the validation accuracy per epoch and the test accuracy at the end
# (scored once; choices are made on validation).
#   scripts/distill_screen.sh > results/distill/screen-mlp3d-30.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${NEUROPOS_BIN:-target/release/neuropos}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
    local name=$1; shift
    "$bin" train --model mlp3d --epochs 30 --val-split 10000 --seed 0 --device cpu \
        --out "$work/$name" "$@" >/dev/null 2>&1
    python3 - "$work/$name" "$name" "$*" <<'PY'
import json, sys
d, name, flags = sys.argv[1:4]
rows = [r for r in map(json.loads, open(f"{d}/metrics.jsonl")) if r.get("epoch", 0) >= 1]
print(json.dumps({
    "run": name, "val_accuracy": [r["val_accuracy"] for r in rows],
    "best_val": max(r["val_accuracy"] for r in rows),
    "test_accuracy": rows[-1].get("test_accuracy"),
    "ms_per_step": sum(r["ms_per_step"] for r in rows) / len(rows),
    "command": f"neuropos train --model mlp3d --epochs 30 --val-split 10000 --seed 0 {flags}".strip(),
}))
PY
}
run plain
for t in 2 4; do
    for a in 0.5 0.9; do
        run "t$t-a$a" --distill-from checkpoints/mlp-h2048 --distill-temperature "$t" --distill-weight "$a"
    done
done
