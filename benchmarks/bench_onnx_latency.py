"""One-row latency and whole-set throughput of an exported VAE, against PCA.

An MNIST-size model (784-400-20: ``VAETransformer(n_components=20,
hidden_layer_sizes=(400,))``, Bernoulli, one epoch on 2,000 rows) and
``PCA(20)``, both fitted on the MNIST training images scaled to [0, 1]
(random rows in [0, 1] when ``../shared/data/mnist`` is absent). Timed:

* onnxruntime on the graph of ``skvae.to_onnx(vae, X)`` (float32, and the
  float64 graph), called with its output names fixed once, as a service
  calls it (and, for comparison, with ``run(None, ...)``, which looks them
  up on every call);
* skvae's ``VAETransformer.transform`` (float32 and float64 rows);
* ``PCA.transform`` (float64 rows, as PCA is usually fed);
* PCA converted by skl2onnx, on onnxruntime (float32).

One row: the median, over ``--rounds`` interleaved rounds, of the mean time
per call in a block of ``--calls`` calls, in microseconds (and the fastest
round, the floor on a quiet core); every ratio is of medians, to
``PCA.transform``'s from the same run. Whole set: rows per second over the
10,000 MNIST test images in one call, best of 3. One intra-op thread
everywhere by default (``--threads``): a service usually runs one request per
core. The target of issue #16: the exported VAE's one-row latency at most
0.25x ``PCA.transform``'s (exit 1 otherwise).

Run from the repository root (needs ``pip install -e ".[bench]"``)::

    python benchmarks/bench_onnx_latency.py
"""

import argparse
import os
import statistics
import time
import warnings

import numpy as np
import onnxruntime as ort
import skl2onnx
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

import skvae
from skvae import VAETransformer, to_onnx

MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
TARGET = 0.25


def load(name, n_rows):
    path = os.path.join(MNIST, f"mnist_{name}_uint8.npz")
    if os.path.exists(path):
        X = np.load(path)["X"][:n_rows].reshape(-1, 784).astype(np.float64) / 255.0
        return X, "MNIST"
    rng = np.random.RandomState(0 if name == "train" else 1)
    return rng.rand(n_rows, 784), "random rows (MNIST not found)"


def session(model, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def one_row_times(candidates, rounds, calls):
    """Per interleaved round, the mean microseconds per call of each candidate."""
    times = {name: [] for name in candidates}
    for fn in candidates.values():  # warm up
        for _ in range(50):
            fn()
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            times[name].append((time.perf_counter() - start) / calls * 1e6)
    return times


def throughput(fn, n_rows):
    fn()
    best = min(_timed(fn) for _ in range(3))
    return n_rows / best


def _timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    torch.set_num_threads(args.threads)

    X_train, source = load("train", 2000)
    X_test, _ = load("t10k", 10_000)
    vae = VAETransformer(
        n_components=20,
        hidden_layer_sizes=(400,),
        likelihood="bernoulli",
        max_iter=1,
        device="cpu",
        random_state=0,
    ).fit(X_train)
    pca = PCA(20).fit(X_train)

    vae32 = session(to_onnx(vae, X_train[:1].astype(np.float32)), args.threads)
    vae64 = session(to_onnx(vae, X_train[:1]), args.threads)
    pca32 = session(skl2onnx.to_onnx(pca, X_train[:1].astype(np.float32)), args.threads)
    pca_input = pca32.get_inputs()[0].name
    # the output names, fixed once as a service would: run(None, ...) looks
    # them up on every call (its own row below)
    vae32_out = [o.name for o in vae32.get_outputs()]
    vae64_out = [o.name for o in vae64.get_outputs()]
    pca32_out = [o.name for o in pca32.get_outputs()]
    row64, row32 = X_test[:1], X_test[:1].astype(np.float32)
    test32 = X_test.astype(np.float32)

    # the runtimes agree with the estimators before anything is timed
    for got, want in (
        (vae32.run(None, {"X": test32})[0], vae.transform(test32)),
        (vae64.run(None, {"X": X_test})[0], vae.transform(X_test)),
    ):
        assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))

    candidates = {
        "onnxruntime, exported VAE, float32": lambda: vae32.run(
            vae32_out, {"X": row32}
        ),
        "onnxruntime, exported VAE, float32, run(None)": lambda: vae32.run(
            None, {"X": row32}
        ),
        "onnxruntime, exported VAE, float64": lambda: vae64.run(
            vae64_out, {"X": row64}
        ),
        "VAETransformer.transform, float32": lambda: vae.transform(row32),
        "VAETransformer.transform, float64": lambda: vae.transform(row64),
        "PCA.transform, float64": lambda: pca.transform(row64),
        "onnxruntime, skl2onnx PCA, float32": lambda: pca32.run(
            pca32_out, {pca_input: row32}
        ),
    }
    whole = {
        "onnxruntime, exported VAE, float32": lambda: vae32.run(None, {"X": test32}),
        "onnxruntime, exported VAE, float32, run(None)": lambda: vae32.run(
            None, {"X": test32}
        ),
        "onnxruntime, exported VAE, float64": lambda: vae64.run(None, {"X": X_test}),
        "VAETransformer.transform, float32": lambda: vae.transform(test32),
        "VAETransformer.transform, float64": lambda: vae.transform(X_test),
        "PCA.transform, float64": lambda: pca.transform(X_test),
        "onnxruntime, skl2onnx PCA, float32": lambda: pca32.run(
            None, {pca_input: test32}
        ),
    }
    times = one_row_times(candidates, args.rounds, args.calls)
    medians = {name: statistics.median(t) for name, t in times.items()}
    rates = {name: throughput(fn, len(X_test)) for name, fn in whole.items()}

    print(
        f"skvae {skvae.__version__}, torch {torch.__version__}, onnxruntime "
        f"{ort.__version__}, skl2onnx {skl2onnx.__version__}; {args.threads} "
        f"thread(s); data: {source}"
    )
    print(
        f"one row: median of {args.rounds} rounds x {args.calls} calls; "
        f"whole set: {len(X_test)} rows in one call, best of 3"
    )
    pca_us = medians["PCA.transform, float64"]
    print(
        f"{'':46} {'one row (us)':>12} {'x PCA':>7} {'best round':>10} {'rows/s':>12}"
    )
    for name in candidates:
        print(
            f"{name:46} {medians[name]:12.1f} {medians[name] / pca_us:7.2f} "
            f"{min(times[name]):10.1f} {rates[name]:12,.0f}"
        )
    ratio = medians["onnxruntime, exported VAE, float32"] / pca_us
    verdict = "met" if ratio <= TARGET else "MISSED"
    print(
        f"target: exported VAE (float32) <= {TARGET}x PCA.transform: "
        f"{ratio:.2f}x, {verdict}"
    )
    raise SystemExit(0 if ratio <= TARGET else 1)


if __name__ == "__main__":
    main()
