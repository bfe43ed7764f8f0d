#!/usr/bin/env bash
# GNU parallel runs specs/smoke.toml from `neuropos sweep --emit jobs`, two at a time; the
# collected summary must hold both seeds, and a second pass must reuse both runs. Installs
# Debian's `parallel` if it is missing (root, apt).
#   scripts/parallel-check.sh          (NEUROPOS_BIN picks the binary)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${NEUROPOS_BIN:-target/release/neuropos}")
if ! command -v parallel >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends parallel >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends parallel >/dev/null; }
fi
work=$(mktemp -d /tmp/neuropos-parallel.XXXXXX)
trap 'rm -rf "$work"' EXIT
out=$work/out
args=(specs/smoke.toml --epochs 1 --train-limit 3000 --test-limit 1000 --out "$out" --jobs 2)
"$bin" sweep "${args[@]}" --emit jobs
parallel --will-cite -j 2 < "$out/jobs.txt"
"$bin" sweep "${args[@]}" --collect
python3 - "$out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rows = s["rows"]
assert rows[0]["seeds"] == [0, 1], rows[0]
assert all(r["mean"] is not None and r["std"] is not None for r in rows), rows
print("parallel: summary rows", [(r["name"], r.get("prune_percent"), round(r["mean"], 4)) for r in rows])
PY
parallel --will-cite -j 2 < "$out/jobs.txt" | grep -c "already trained" | grep -qx 2
echo "parallel: the second pass reused both runs"
