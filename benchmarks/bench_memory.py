"""Peak memory (RSS) of VAETransformer.fit against a plain PyTorch loop.

Each measurement runs in a fresh subprocess that imports the same libraries,
loads MNIST's 60,000 training images as one float32 C-contiguous array
(188 MB), trains the 784-400-20 Bernoulli VAE for one epoch, and reports its
peak resident set size (``ru_maxrss``):

- ``plain``:  the hand-written randperm-slicing loop of ``bench_speed.py``;
- ``skvae``:  ``VAETransformer.fit`` on the same in-memory array;
- ``memmap``: ``VAETransformer.fit`` on a float32 ``numpy.memmap`` of the same
  rows repeated ``--memmap-copies`` times (4: 750 MB on disk), read as batches
  are drawn. Its RSS counts the file pages the kernel has mapped in, which it
  can drop under memory pressure; ``anon`` is the process's own memory.

Run from the repository root::

    python benchmarks/bench_memory.py
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST = os.path.join(
    HERE, "..", "..", "shared", "data", "mnist", "mnist_train_uint8.npz"
)

CHILD = r"""
import json, resource, sys, warnings
import numpy as np, torch
sys.path.insert(0, {here!r})
import skvae, sklearn  # same imports in every mode
from bench_speed import plain_fit, skvae_fit

mode, path, n_rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "memmap":
    X = np.memmap(path, dtype=np.float32, mode="r", shape=(n_rows, 784))
else:
    X = np.load(path)["X"].reshape(-1, 784).astype(np.float32) / 255.0
    X = np.ascontiguousarray(X, dtype=np.float32)
fit = plain_fit if mode == "plain" else skvae_fit
fit(X, 400, 20, 1)
status = dict(
    line.split(":", 1) for line in open("/proc/self/status") if ":" in line
)
print(json.dumps({{
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "anon_mb": int(status.get("RssAnon", "0 kB").split()[0]) / 1024,
    "file_mb": int(status.get("RssFile", "0 kB").split()[0]) / 1024,
    "data_mb": X.nbytes / 2**20,
}}))
"""


def run(mode, path, n_rows):
    code = CHILD.format(here=HERE)
    out = subprocess.run(
        [sys.executable, "-c", code, mode, path, str(n_rows)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memmap-copies", type=int, default=4)
    args = parser.parse_args(argv)

    plain = run("plain", MNIST, 60000)
    ours = run("skvae", MNIST, 60000)
    print(
        f"in memory ({ours['data_mb']:.0f} MB of data): peak RSS plain loop "
        f"{plain['peak_rss_mb']:.0f} MB, skvae {ours['peak_rss_mb']:.0f} MB, "
        f"ratio {ours['peak_rss_mb'] / plain['peak_rss_mb']:.3f}"
    )

    X = np.load(MNIST)["X"].reshape(-1, 784).astype(np.float32) / 255.0
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"mnist_x{args.memmap_copies}.f32")
        n_rows = len(X) * args.memmap_copies
        mm = np.memmap(path, dtype=np.float32, mode="w+", shape=(n_rows, 784))
        for i in range(args.memmap_copies):
            mm[i * len(X) : (i + 1) * len(X)] = X
        mm.flush()
        del mm, X
        mapped = run("memmap", path, n_rows)
    print(
        f"memmap ({mapped['data_mb']:.0f} MB file, {n_rows} rows): peak RSS "
        f"{mapped['peak_rss_mb']:.0f} MB, of which at the end anonymous "
        f"{mapped['anon_mb']:.0f} MB and file-backed {mapped['file_mb']:.0f} MB"
    )


if __name__ == "__main__":
    main()
