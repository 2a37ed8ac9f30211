"""Where the time of a single-row ``transform`` goes, at MNIST size.

An MNIST-size model (784-400-20, Bernoulli, one epoch on 2,000 rows) and PCA
with 20 components; one float64 row. Each line is the best of 7 x 1,000
calls, in microseconds:

* ``PCA.transform`` and ``VAETransformer.transform`` of the row;
* skvae's input checks alone (``_check_X``);
* the bare float64 encoder (``module.encoder`` on the cached float64 copy,
  under ``torch.inference_mode``) and the same on the float32 weights;
* NumPy's float64 product of the row with the 784x400 weight matrix, for
  scale: what the first layer's arithmetic costs with another BLAS.

Run from the repository root::

    python benchmarks/bench_row_latency.py
"""

import os
import timeit
import warnings

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning

from skvae import VAETransformer

MNIST = os.path.join(
    os.path.dirname(__file__),
    "..",
    "..",
    "shared",
    "data",
    "mnist",
    "mnist_train_uint8.npz",
)


def best_us(fn):
    return min(timeit.repeat(fn, number=1000, repeat=7)) / 1000 * 1e6


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    X = np.load(MNIST)["X"][:2000].reshape(-1, 784).astype(np.float64) / 255.0
    vae = VAETransformer(
        20,
        hidden_layer_sizes=(400,),
        likelihood="bernoulli",
        max_iter=1,
        device="cpu",
        random_state=0,
    ).fit(X)
    pca = PCA(20).fit(X)
    row = X[:1]
    module64 = vae._inference_module(torch.float64)
    x64, x32 = torch.from_numpy(row), torch.from_numpy(row.astype(np.float32))
    weight = module64.encoder[0].weight.detach().numpy()

    def encoder(module, x):
        with torch.inference_mode():
            return module.encoder(x)

    rows = [
        ("PCA.transform", lambda: pca.transform(row)),
        ("VAETransformer.transform", lambda: vae.transform(row)),
        ("skvae input checks (_check_X)", lambda: vae._check_X(row, reset=False)),
        ("bare encoder, float64", lambda: encoder(module64, x64)),
        ("bare encoder, float32", lambda: encoder(vae.module_, x32)),
        ("NumPy 784x400 product, float64", lambda: weight @ row[0]),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, fn in rows:
        print(f"  {name:32} {best_us(fn):7.1f} us")


if __name__ == "__main__":
    main()
