"""A NIR file from `neuropos export --format nir`, read by `nir.read`, built by snnTorch's
`import_from_nir` (through nirtorch), and run for the graph's time steps on MNIST test images.

    python scripts/nir_check.py MODEL.nir NEUROPOS_CLASSES.txt [--images N]

NEUROPOS_CLASSES.txt holds neuropos's own class per image (`neuropos eval --classes`), one per
line. Prints one JSON line: the images, snnTorch's accuracy, neuropos's, and the share of images
where the two predict the same class. The prediction rule is the graph's metadata `readout`
(the most output spikes, a tie to the larger summed output membrane).
"""

import argparse
import gzip
import json
import sys

import nir
import numpy as np
import snntorch as snn
import torch
from snntorch.import_nir import import_from_nir


def mnist_test(n):
    raw = gzip.open("data/mnist/t10k-images-idx3-ubyte.gz").read()[16:]
    images = np.frombuffer(raw, dtype=np.uint8)[: n * 784].reshape(n, 784) / 255.0
    labels = np.frombuffer(gzip.open("data/mnist/t10k-labels-idx1-ubyte.gz").read()[8:], dtype=np.uint8)
    return torch.tensor(images, dtype=torch.float32), labels[:n].astype(np.int64)


def meta(graph, key):
    v = graph.metadata[key]
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("nir_file")
    parser.add_argument("neuropos_classes")
    parser.add_argument("--images", type=int, default=1000)
    args = parser.parse_args()

    graph = nir.read(args.nir_file)
    steps = int(meta(graph, "time_steps"))
    membrane_readout = meta(graph, "readout").startswith("membrane")
    net = import_from_nir(graph)
    neurons = [m for m in net.modules() if isinstance(m, snn.SpikingNeuron)]
    output_lif = neurons[-1]
    images, labels = mnist_test(args.images)
    ours = np.array([int(l) for l in open(args.neuropos_classes)][: args.images])
    if len(ours) != args.images:
        sys.exit(f"{args.neuropos_classes}: {len(ours)} classes for {args.images} images")

    predicted = []
    with torch.no_grad():
        for start in range(0, args.images, 250):
            x = images[start : start + 250]
            for m in neurons:
                m.reset_hidden()
            state = None
            counts = torch.zeros(x.shape[0], 10)
            potential = torch.zeros(x.shape[0], 10)
            for _ in range(steps):
                out, state = net(x, state) if state is not None else net(x)
                counts += out
                # The output neurons' membrane after this step's reset, as snnTorch keeps it.
                potential += output_lif.mem
            if membrane_readout:
                score = potential
            else:
                # The most spikes; among equal counts the larger summed membrane.
                score = counts * 1e6 + potential
            predicted.append(score.argmax(dim=1).numpy())
    predicted = np.concatenate(predicted)
    print(
        json.dumps(
            {
                "nir_file": args.nir_file,
                "images": args.images,
                "snntorch_accuracy": float((predicted == labels).mean()),
                "neuropos_accuracy": float((ours == labels).mean()),
                "same_class": float((predicted == ours).mean()),
                "time_steps": steps,
                "reset": meta(graph, "reset").split(":")[0],
            }
        )
    )


if __name__ == "__main__":
    main()
