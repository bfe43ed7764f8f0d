#!/usr/bin/env bash
# Re-measures every number in the README's Performance section on this machine, one JSON line
# (or timing line) each. Build first: cargo build --release (or set NEUROPOS_BIN). Run on an
# otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${NEUROPOS_BIN:-./target/release/neuropos}
bench() { "$bin" bench --device cpu "$@" 2>/dev/null; }

# Training steps, batch 600.
bench --model mlp3d --steps 20
bench --model mlp3d --steps 20 --product dense
bench --model mlp3d-gaps --steps 20
bench --model mlp3d-relaxed --steps 20
bench --model mlp --hidden 14 --steps 20
bench --model mlp --hidden 2048 --steps 20
bench --model snn3d --steps 10
bench --model snn3d --steps 10 --product dense
bench --model snn --hidden 14 --steps 20
bench --model mlp3d --steps 10 --threads 1
bench --model snn3d --steps 5 --threads 1

# Inference over the 10,000 test images.
bench --model mlp3d --inference --product dense
bench --model mlp3d --inference --product auto
bench --model mlp3d --inference --product sparse --tile 32
bench --model snn3d --inference --product dense
bench --model snn3d --inference --product sparse --tile 32

# The 12-level pruning sweep (plus the unpruned score) on a trained 3D-MLP checkpoint.
if [ -d runs/mlp3d-seed0 ]; then
    start=$(date +%s.%N)
    "$bin" eval runs/mlp3d-seed0 --prune 0,10,20,30,40,50,60,70,80,90,95,99 --device cpu \
        >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "{\"eval_sweep_seconds\": $(echo "$end - $start" | bc)}"
fi

# The step targets again, five interleaved runs each of 40 steps: this VM's speed drifts by
# ±20 % from minute to minute, so the README quotes the median and the range of these.
for _ in 1 2 3 4 5; do
    bench --model mlp3d --steps 40
    bench --model snn3d --steps 40
done
