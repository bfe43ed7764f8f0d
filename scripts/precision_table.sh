#!/usr/bin/env bash
# Every zoo checkpoint scored on its full test set with its stored numbers at f32, f16 and int8
# (`neuropos eval --precision`), one JSON list: results/deploy/precision.json.
#   scripts/precision_table.sh [BINARY] > results/deploy/precision.json
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./target/release/neuropos}
ckpts=$(ls -d checkpoints/*/ | sed 's|/$||')
{
  for p in f32 f16 int8; do
    # shellcheck disable=SC2086  # one argument per checkpoint
    "$bin" eval $ckpts --precision "$p" --format json --device cpu 2>/dev/null
  done
} | python3 -c '
import json, sys
text = sys.stdin.read()
rows, decoder, i = [], json.JSONDecoder(), 0
while i < len(text):
    while i < len(text) and text[i].isspace():
        i += 1
    if i == len(text):
        break
    chunk, i = decoder.raw_decode(text, i)
    rows += chunk
keep = ("checkpoint", "model", "params", "precision", "stored_bytes", "stored_percent", "accuracy")
print(json.dumps({"command": "neuropos eval checkpoints/* --precision f32|f16|int8 --format json --device cpu",
                  "rows": [{k: r[k] for k in keep} for r in rows]}, indent=1))
'
