#!/usr/bin/env bash
# Behaviour check for refactors: trains five kinds for one epoch on the first 6000 training
# images (seed 0, CPU) and prints one JSON line per kind with the SHA-256 of the checkpoint's
# model.safetensors, then the same for `mlp3d --prune-during 80` (the pruning selection in every
# forward pass), a run stopped and resumed, and a `prune --finetune-epochs` run. Run it with the
# binary before and after a change; the hashes must match. `tensors_sha256` hashes the tensors
# alone (names, shapes, bytes; not the metadata), for a change that records something new.
#   scripts/checkpoint_hashes.sh [BINARY] [LABEL]   (default ./target/release/neuropos)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-./target/release/neuropos}")
label=${2:-$(git rev-parse --short HEAD)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tensors_sha() {
    python3 - "$1" <<'PY'
import hashlib, json, struct, sys
raw = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
h = hashlib.sha256()
for name in sorted(k for k in header if k != "__metadata__"):
    v = header[name]
    a, b = v["data_offsets"]
    h.update(json.dumps([name, v["dtype"], v["shape"]]).encode())
    h.update(raw[8 + n + a:8 + n + b])
print(h.hexdigest())
PY
}
for kind in mlp3d mlp3d-relaxed mlp3d-gaps snn3d mlp; do
    "$bin" train --model "$kind" --epochs 1 --train-limit 6000 --seed 0 --device cpu \
        --out "$work/$kind" >/dev/null 2>&1
    sha=$(sha256sum "$work/$kind/model.safetensors" | cut -d' ' -f1); tsha=$(tensors_sha "$work/$kind/model.safetensors")
    echo "{\"label\": \"$label\", \"kind\": \"$kind\", \"epochs\": 1, \"train_limit\": 6000, \"seed\": 0, \"sha256\": \"$sha\", \"tensors_sha256\": \"$tsha\"}"
done
"$bin" train --model mlp3d --prune-during 80 --epochs 1 --train-limit 6000 --seed 0 --device cpu \
    --out "$work/during" >/dev/null 2>&1
sha=$(sha256sum "$work/during/model.safetensors" | cut -d' ' -f1); tsha=$(tensors_sha "$work/during/model.safetensors")
echo "{\"label\": \"$label\", \"kind\": \"mlp3d --prune-during 80\", \"epochs\": 1, \"train_limit\": 6000, \"seed\": 0, \"sha256\": \"$sha\", \"tensors_sha256\": \"$tsha\"}"
# A run stopped part-way (as Ctrl-C would) and resumed: the same bytes as one uninterrupted.
"$bin" train --model mlp3d --epochs 2 --train-limit 6000 --seed 0 --device cpu \
    --debug-stop-after 13 --out "$work/resumed" >/dev/null 2>&1
"$bin" train --resume "$work/resumed" --device cpu >/dev/null 2>&1
sha=$(sha256sum "$work/resumed/model.safetensors" | cut -d' ' -f1); tsha=$(tensors_sha "$work/resumed/model.safetensors")
echo "{\"label\": \"$label\", \"kind\": \"mlp3d stopped after 13 batches, resumed\", \"epochs\": 2, \"train_limit\": 6000, \"seed\": 0, \"sha256\": \"$sha\", \"tensors_sha256\": \"$tsha\"}"
# Pruning after training with compensation and fine-tuning, from the one-epoch mlp3d above.
# Run inside the work directory: the checkpoint records its source's path as given.
(cd "$work" && "$bin" prune mlp3d --percent 60 --compensate 600 --finetune-epochs 1 \
    --train-limit 6000 --device cpu --out pruned >/dev/null 2>&1)
sha=$(sha256sum "$work/pruned/model.safetensors" | cut -d' ' -f1); tsha=$(tensors_sha "$work/pruned/model.safetensors")
echo "{\"label\": \"$label\", \"kind\": \"prune mlp3d --percent 60 --compensate 600 --finetune-epochs 1\", \"epochs\": 1, \"train_limit\": 6000, \"seed\": 0, \"sha256\": \"$sha\", \"tensors_sha256\": \"$tsha\"}"
