# Sourced by scripts/cuda-check.sh and scripts/gpu-check.sh: puts an nvcc on PATH for building
# `--features cuda`. One already on PATH (a machine with the CUDA toolkit) is used as it is;
# otherwise nvcc and the CUDA headers come from PyPI's wheels in a venv (target/cuda-venv,
# reused by later runs).
if command -v nvcc >/dev/null 2>&1 && [ -z "${NEUROPOS_CUDA_VENV_ONLY:-}" ]; then
    return 0
fi
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
