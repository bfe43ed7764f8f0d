#!/usr/bin/env bash
# Pruning during training (the paper's Fig. 3b): mlp3d and mlp 14, seed 0, EPOCHS epochs
# (default 50), the smallest P % of each layer's weights removed in every forward pass, for P in
# 0 20 40 60 80 90 95. One JSON line per run: the command, the final and the best test accuracy.
#   scripts/pruning_during.sh [EPOCHS] > results/pruning/during-training.jsonl
# MODELS (default "mlp3d;mlp --hidden 14") picks the models, `;`-separated.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NEUROPOS_BIN:-./target/release/neuropos}
epochs=${1:-50}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
IFS=';' read -r -a models <<< "${MODELS:-mlp3d;mlp --hidden 14}"
for model in "${models[@]}"; do
    for p in 0 20 40 60 80 90 95; do
        args="--model $model --epochs $epochs --seed 0 --prune-during $p"
        # shellcheck disable=SC2086
        "$bin" train $args --device cpu --out "$work/run" >/dev/null 2>&1
        python3 -c "
import json, sys
log = [json.loads(l) for l in open('$work/run/metrics.jsonl')]
acc = [r['test_accuracy'] for r in log]
print(json.dumps({'command': sys.argv[1], 'model': sys.argv[2], 'prune_during': $p,
                  'epochs': len(acc), 'final_accuracy': acc[-1], 'best_accuracy': max(acc),
                  'best_epoch': acc.index(max(acc)) + 1}))
" "neuropos train $args --device cpu --out DIR" "$model"
        rm -rf "$work/run"
    done
done
