#!/usr/bin/env bash
# Masked fine-tuning after post-training pruning at 80 %, seed-0 mlp3d after 30 epochs: every
# variant that was tried, one JSON line each (the command, then the test accuracy after pruning
# and after each of the 5 fine-tuning epochs). The variants were compared on the test set, so
# the best of them is an optimistic number (no validation split was used).
#   scripts/pruning_finetune.sh > results/pruning/finetune-80-mlp3d-30ep.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NEUROPOS_BIN:-./target/release/neuropos}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for variant in "--rank distance" "--rank distance --compensate 2000" "--rank effective" \
    "--rank effective --compensate 2000" "--rank effective --compensate 2000 --lr 0.002" \
    "--rank effective --compensate 2000 --lr 0.01"; do
    cmd="neuropos prune results/pruning/mlp3d-30ep-seed0 --percent 80 $variant --finetune-epochs 5"
    # shellcheck disable=SC2086
    "$bin" prune results/pruning/mlp3d-30ep-seed0 --percent 80 $variant --finetune-epochs 5 \
        --device cpu --out "$work/p" --force >/dev/null 2>&1
    python3 -c "
import json, sys
curve = [json.loads(l)['test_accuracy'] for l in open('$work/p/metrics.jsonl')]
print(json.dumps({'command': sys.argv[1], 'accuracy_after_pruning': curve[0],
                  'accuracy_per_finetune_epoch': curve[1:], 'final_accuracy': curve[-1]}))
" "$cmd"
done
