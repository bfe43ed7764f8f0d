#!/usr/bin/env bash
# Clean release builds of the library alone: without default features (inference, pruning,
# training on local data) and with them (the Hub client and candle-datasets), each in a fresh
# target directory, one after the other on an otherwise idle machine. One JSON line each.
#   scripts/library_build_times.sh > results/checks/library-build-times.jsonl
set -euo pipefail
cd "$(dirname "$0")/.."
for features in "--no-default-features" ""; do
    target=$(mktemp -d)
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    CARGO_TARGET_DIR=$target cargo build --release -p neuropos-models $features >/dev/null 2>&1
    end=$(date +%s.%N)
    crates=$(cargo tree -p neuropos-models $features -e normal \
        --prefix none 2>/dev/null | sort -u | wc -l)
    rm -rf "$target"
    echo "{\"build\": \"cargo build --release -p neuropos-models ${features:-(default features)}\", \"seconds\": $(echo "$end - $start" | bc), \"crates\": $crates, \"cores\": $(nproc), \"commit\": \"$(git rev-parse --short HEAD)\"}"
done
