#!/usr/bin/env python3
"""Checks the dense export's layout outside neuropos: rebuilds the MLP from the safetensors file
with NumPy (y = relu(x W0^T + b0) W1^T + b1, as torch.nn.Linear computes) and scores the first
N MNIST test images from the vendored IDX files. Needs `pip install numpy safetensors`.

   neuropos export checkpoints/mlp3d --out mlp3d-dense.safetensors
   scripts/check_export_numpy.py mlp3d-dense.safetensors [N=1000]
"""
import gzip
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
path, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000
t = load_file(path)
mnist = os.path.join(ROOT, "data", "mnist")
images = gzip.open(os.path.join(mnist, "t10k-images-idx3-ubyte.gz")).read()[16:]
labels = gzip.open(os.path.join(mnist, "t10k-labels-idx1-ubyte.gz")).read()[8:]
x = np.frombuffer(images, np.uint8).reshape(-1, 784)[:n].astype(np.float32) / 255
y = np.frombuffer(labels, np.uint8)[:n]
h = np.maximum(x @ t["linear.0.weight"].T + t["linear.0.bias"], 0)
logits = h @ t["linear.1.weight"].T + t["linear.1.bias"]
print(json.dumps({"export": os.path.basename(path), "test_images": n,
                  "numpy_accuracy": float((logits.argmax(1) == y).mean())}))
