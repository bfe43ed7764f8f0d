#!/usr/bin/env bash
# Interleaved A/B of scripts/performance.sh: runs it ROUNDS times for each of two binaries,
# alternating A, B, A, B…, and prints every JSON line tagged with its binary's label and round.
# This VM's speed drifts by ±20 % from minute to minute, so only interleaved runs compare.
#   scripts/performance_ab.sh BIN_A LABEL_A BIN_B LABEL_B [ROUNDS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${5:-2}
for round in $(seq 1 "$rounds"); do
    for side in "$1:$2" "$3:$4"; do
        bin=${side%%:*} label=${side#*:}
        NEUROPOS_BIN=$bin scripts/performance.sh |
            sed "s/^{/{\"binary\":\"$label\",\"round\":$round,/"
    done
done
