#!/usr/bin/env bash
# Issue 36's screen of `--weight-scale learned` (beyond the paper): each embedded kind at 30
# epochs with 10,000 training images held out, with the paper's fixed 1/distance and with one
# learned scale per synapse layer, the same seed and recipe otherwise. One JSON line per run:
# the validation accuracy per epoch, the learned scales, the test accuracy at the end (scored
# once; the choice is made on validation).
#   scripts/scale_screen.sh > results/distill/scale-screen-30.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${NEUROPOS_BIN:-target/release/neuropos}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
    local kind=$1 seed=$2 scale=$3
    local name="$kind-s$seed-$scale"
    local flags="--model $kind --epochs 30 --val-split 10000 --seed $seed --weight-scale $scale"
    # shellcheck disable=SC2086
    "$bin" train $flags --device cpu --out "$work/$name" >/dev/null 2>&1
    python3 - "$work/$name" "$name" "$flags" <<'PY'
import json, struct, sys
d, name, flags = sys.argv[1:4]
rows = [r for r in map(json.loads, open(f"{d}/metrics.jsonl")) if r.get("epoch", 0) >= 1]
raw = open(f"{d}/model.safetensors", "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
scales = {k: struct.unpack("<f", raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])[0]
          for k, v in sorted(header.items()) if k.endswith(".scale")}
print(json.dumps({
    "run": name, "val_accuracy": [r["val_accuracy"] for r in rows],
    "best_val": max(r["val_accuracy"] for r in rows),
    "final_val": rows[-1]["val_accuracy"],
    "test_accuracy": rows[-1].get("test_accuracy"),
    "scales": scales,
    "ms_per_step": sum(r["ms_per_step"] for r in rows) / len(rows),
    "command": f"neuropos train {flags}",
}), flush=True)
PY
}
for spec in "mlp3d 0" "mlp3d 1" "mlp3d-relaxed 0" "snn3d 0"; do
    set -- $spec
    for scale in fixed learned; do
        run "$1" "$2" "$scale"
    done
done
