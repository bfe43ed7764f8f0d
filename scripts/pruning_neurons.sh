#!/usr/bin/env bash
# Whole-neuron pruning of the seed-0 mlp3d after 30 epochs: both scores, 10-90 % of the hidden
# neurons, with the removed neurons' mean current compensated on 2000 training images, without
# and with 2 epochs of fine-tuning. One JSON line each: the command, the smaller network's layers
# and parameters, the test accuracy after pruning and after fine-tuning.
#   scripts/pruning_neurons.sh > results/pruning/neurons-mlp3d-30ep.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NEUROPOS_BIN:-./target/release/neuropos}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for score in outgoing variance; do
    for p in 10 30 50 70 90; do
        for epochs in 0 2; do
            args="--neurons $p --neuron-score $score --compensate 2000 --finetune-epochs $epochs"
            # shellcheck disable=SC2086
            "$bin" prune results/pruning/mlp3d-30ep-seed0 $args --device cpu --out "$work/p" --force \
                >/dev/null 2>&1
            python3 -c "
import json, sys
config = json.load(open('$work/p/config.json'))
curve = [json.loads(l)['test_accuracy'] for l in open('$work/p/metrics.jsonl')]
print(json.dumps({'command': sys.argv[1], 'score': '$score', 'neurons_pruned_percent': $p,
                  'finetune_epochs': $epochs, 'layers': config['model']['layers'],
                  'params': config['params'], 'accuracy_after_pruning': curve[0],
                  'final_accuracy': curve[-1]}))
" "neuropos prune results/pruning/mlp3d-30ep-seed0 $args --out DIR"
        done
    done
done
