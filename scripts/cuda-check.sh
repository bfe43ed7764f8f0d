#!/usr/bin/env bash
# Proves that the `cuda` feature compiles, on a machine without a GPU or a CUDA toolkit:
# nvcc and the CUDA headers from PyPI's wheels in a venv (scripts/cuda-env.sh), then
# `cargo check --features cuda` (type-checks everything and builds candle-kernels' PTX; linking
# would need libcuda, which only a machine with an NVIDIA driver has). Running the CUDA path
# needs such a machine: scripts/gpu-check.sh.
#   scripts/cuda-check.sh            (venv in target/cuda-venv, reused by later runs)
set -euo pipefail
cd "$(dirname "$0")/.."
# The PyPI toolchain even where a system nvcc exists: what CI checks is this recipe.
NEUROPOS_CUDA_VENV_ONLY=1 source scripts/cuda-env.sh
# candle-kernels asks the GPU for its compute capability; there is none: Hopper (sm_90).
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
nvcc --version | tail -1
cargo check --release --features cuda --all-targets
