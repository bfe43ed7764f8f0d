#!/usr/bin/env bash
# NIR round trip: the zoo's spiking networks exported with `neuropos export --format nir`, read
# by `nir.read`, built by snnTorch's `import_from_nir` (through nirtorch) and run for T steps on
# the first 1,000 MNIST test images, against `neuropos eval --predictions` on the same images.
# The networks trained with --reset zero (NIR's reset) must give the same class on ≥ 99 % of
# the images and the same accuracy within half a point; the subtract-reset ones' gap is
# reported, not checked. One JSON line per model.
#   scripts/nir-check.sh [BINARY] > results/interop/nir.jsonl
# The Python side lives in a venv from PyPI (target/nir-venv; about 5 GB, torch's wheels).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-./target/release/neuropos}")
venv=${NEUROPOS_NIR_VENV:-target/nir-venv}
if [ ! -x "$venv/bin/nir-ready" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        torch==2.15.0 nir==1.0.8 nirtorch==2.6 snntorch==1.0.0 numpy h5py >&2
    touch "$venv/bin/nir-ready" && chmod +x "$venv/bin/nir-ready"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
images=1000
check() {
    local name=$1 must_match=$2
    "$bin" export "checkpoints/$name" --format nir --out "$work/$name.nir" >/dev/null 2>&1
    "$bin" eval "checkpoints/$name" --test-limit "$images" --predictions "$work/$name.txt" \
        --format json >/dev/null 2>&1
    "$venv/bin/python" scripts/nir_check.py "$work/$name.nir" "$work/$name.txt" \
        --images "$images" 2>/dev/null | tail -n 1 > "$work/$name.json"
    python3 - "$work/$name.json" "$name" "$must_match" <<'PY'
import json, sys
row = json.load(open(sys.argv[1]))
row["nir_file"] = sys.argv[2] + ".nir"
print(json.dumps(row))
if sys.argv[3] == "yes":
    gap = abs(row["snntorch_accuracy"] - row["neuropos_accuracy"])
    if row["same_class"] < 0.99 or gap > 0.005:
        sys.exit(f"{sys.argv[2]}: snnTorch and neuropos differ (same class on "
                 f"{row['same_class']:.3f}, accuracy gap {gap:.4f})")
PY
}
check snn-h14-zero yes
check snn3d-zero yes
check snn-h14 no
check snn3d no
