#!/usr/bin/env bash
# What distillation costs per step: mlp3d trained one epoch on 12,000 images (one thread),
# plainly and distilled from checkpoints/mlp-h2048, interleaved over four rounds; one JSON line
# per run with its mean ms per step (the teacher's soft targets are computed once, before the
# first step, and are not in it).
#   scripts/distill_step_ab.sh > results/distill/step-ab.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${NEUROPOS_BIN:-target/release/neuropos}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for round in 1 2 3 4; do
    for mode in plain distilled; do
        extra=()
        [ "$mode" = distilled ] && extra=(--distill-from checkpoints/mlp-h2048)
        RAYON_NUM_THREADS=1 "$bin" train --model mlp3d --epochs 1 --train-limit 12000 \
            --test-limit 1000 --seed 0 --device cpu --out "$work/$mode" --force "${extra[@]}" \
            >/dev/null 2>&1
        python3 - "$work/$mode/metrics.jsonl" "$round" "$mode" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])][-1]
print(json.dumps({"round": int(sys.argv[2]), "mode": sys.argv[3], "ms_per_step": r["ms_per_step"], "steps": r["steps"]}))
PY
    done
done
