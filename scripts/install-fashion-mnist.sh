#!/usr/bin/env bash
# Installs Debian's dataset-fashion-mnist (the four IDX files under
# /usr/share/datasets/fashion-mnist/) if it is missing: for CI and the Fashion-MNIST zoo runs.
# `neuropos … --data fashion-mnist` checks the decompressed bytes against data/fashion-mnist.sha256.
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
if [ -f "$dir/train-images-idx3-ubyte.gz" ] || [ -f "$dir/train-images-idx3-ubyte" ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "dataset-fashion-mnist is missing and installing it needs root: apt-get install dataset-fashion-mnist" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends dataset-fashion-mnist >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends dataset-fashion-mnist >/dev/null; }
