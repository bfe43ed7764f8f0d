#!/usr/bin/env bash
# Proves that the `cuda` feature compiles, on a machine without a GPU or a CUDA toolkit:
# nvcc and the CUDA headers from PyPI's wheels in a venv, then `cargo check --features cuda`
# (type-checks everything and builds candle-kernels' PTX; linking would need libcuda, which
# only a machine with an NVIDIA driver has). Running the CUDA path needs such a machine.
#   scripts/cuda-check.sh            (venv in target/cuda-venv, reused by later runs)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${NEUROPOS_CUDA_VENV:-target/cuda-venv}
if [ ! -x "$venv/bin/nvcc-ready" ]; then
    python3 -m venv "$venv"
    # 13.5's nvcc with the runtime headers; cudarc 0.19 knows the API up to 13.4 (below).
    "$venv/bin/pip" install --quiet nvidia-cuda-nvcc==13.5.37 nvidia-cuda-runtime==13.5.37 \
        nvidia-cuda-cccl==13.3.5.0.6
    touch "$venv/bin/nvcc-ready" && chmod +x "$venv/bin/nvcc-ready"
fi
cu13=$("$venv/bin/python" -c 'import nvidia, os; print(os.path.join(nvidia.__path__[0], "cu13"))')
export PATH="$cu13/bin:$PATH" CUDA_ROOT="$cu13" CUDA_PATH="$cu13" CUDA_HOME="$cu13"
# cudarc rejects nvcc 13.5 as unknown; build against the 13.4 API it knows.
export CUDARC_CUDA_VERSION=13040
# candle-kernels asks the GPU for its compute capability; there is none: Hopper (sm_90).
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
nvcc --version | tail -1
cargo check --release --features cuda --all-targets
