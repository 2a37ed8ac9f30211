"""Training and inference speed of VAETransformer against plain PyTorch and PCA.

Fit throughput: ``VAETransformer.fit`` timed from the user's side against a
plain PyTorch loop of the identical model and optimizer (Adam 1e-3, batch 128,
float32, Bernoulli likelihood) that slices a preloaded tensor with
``torch.randperm``, the fastest hand-written loop measured here. Baseline and
skvae run alternately in this one process; the script prints each median and
the ratio baseline_time / skvae_time (above 1: skvae is faster).

Inference: single-row ``transform`` latency against ``PCA.transform`` on the
same row, and whole-set ``transform`` time against PCA's.

With ``--device cuda`` both loops train on the GPU: the plain loop preloads
the data there as one tensor (the fastest hand-written GPU loop: no
DataLoader, no host copies), skvae gets ``device="cuda"``; each timing ends
with ``torch.cuda.synchronize()``. Inference is then not timed (PCA has no GPU
path to compare with).

Run from the repository root::

    python benchmarks/bench_speed.py              # digits and MNIST models
    python benchmarks/bench_speed.py --quick      # fewer rows and repeats
    python benchmarks/bench_speed.py --device cuda   # on a GPU machine
"""

import argparse
import os
import statistics
import sys
import time
import timeit
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from torch import nn
from torch.nn import functional as F

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


class PlainVAE(nn.Module):
    """The same architecture as ``VAEModule`` with one hidden layer, written by hand."""

    def __init__(self, n_features, n_hidden, n_latent):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(n_features, n_hidden),
            nn.ReLU(),
            nn.Linear(n_hidden, 2 * n_latent),
        )
        self.decoder = nn.Sequential(
            nn.Linear(n_latent, n_hidden), nn.ReLU(), nn.Linear(n_hidden, n_features)
        )

    def forward(self, x, generator):
        loc, log_scale = self.encoder(x).chunk(2, dim=-1)
        eps = torch.randn(loc.shape, generator=generator, device=loc.device)
        logits = self.decoder(loc + log_scale.exp() * eps)
        return logits, loc, log_scale


def plain_fit(X, n_hidden, n_latent, n_epochs, seed=0, device="cpu"):
    """A careful hand-written loop: preloaded tensor, randperm slicing, no syncs."""
    generator = torch.Generator(device=device).manual_seed(seed)
    X = torch.from_numpy(X).to(device)
    model = PlainVAE(X.shape[1], n_hidden, n_latent).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    total = torch.zeros((), device=device)
    for _ in range(n_epochs):
        perm = torch.randperm(len(X), generator=generator, device=device)
        for start in range(0, len(X), 128):
            x = X[perm[start : start + 128]]
            logits, loc, log_scale = model(x, generator)
            recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
            kl = 0.5 * (loc.square() + (2 * log_scale).exp() - 1 - 2 * log_scale).sum()
            loss = (recon + kl) / len(x)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach()
    return float(total)


def skvae_fit(X, n_hidden, n_latent, n_epochs, seed=0, device="cpu"):
    vae = VAETransformer(
        n_latent,
        hidden_layer_sizes=(n_hidden,),
        likelihood="bernoulli",
        batch_size=128,
        learning_rate_init=1e-3,
        max_iter=n_epochs,
        early_stopping=False,  # every row trained on, as in the plain loop
        tol=0.0,
        n_iter_no_change=n_epochs + 1,
        device=device,
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return vae.fit(X)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def bench_fit(name, X, n_hidden, n_latent, n_epochs, repeats, device="cpu"):
    plain_times, skvae_times = [], []
    for _ in range(repeats):  # alternate, so drifts in machine load hit both
        _sync(device)
        start = time.perf_counter()
        plain_fit(X, n_hidden, n_latent, n_epochs, device=device)
        _sync(device)
        plain_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        skvae_fit(X, n_hidden, n_latent, n_epochs, device=device)
        _sync(device)
        skvae_times.append(time.perf_counter() - start)
    plain, ours = statistics.median(plain_times), statistics.median(skvae_times)
    print(
        f"fit {name:<24} plain loop {plain:7.2f} s   skvae {ours:7.2f} s   "
        f"speed-up {plain / ours:5.2f}x   (median of {repeats}, {n_epochs} epochs, "
        f"{len(X)} rows, {device})"
    )
    return plain / ours


def bench_transform(name, X, vae, repeats):
    pca = PCA(vae.n_components).fit(X)
    row = X[:1]
    n = 500
    pca_row = (
        min(timeit.repeat(lambda: pca.transform(row), number=n, repeat=repeats)) / n
    )
    vae_row = (
        min(timeit.repeat(lambda: vae.transform(row), number=n, repeat=repeats)) / n
    )
    pca_all = min(timeit.repeat(lambda: pca.transform(X), number=1, repeat=repeats))
    vae_all = min(timeit.repeat(lambda: vae.transform(X), number=1, repeat=repeats))
    print(
        f"transform {name:<18} one row: PCA {pca_row * 1e6:6.0f} us  skvae "
        f"{vae_row * 1e6:6.0f} us  ratio {vae_row / pca_row:4.2f}   all {len(X)} rows: "
        f"PCA {pca_all * 1e3:6.1f} ms  skvae {vae_all * 1e3:6.1f} ms  "
        f"ratio {vae_all / pca_all:4.2f}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and repeats")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--threads", type=int, help="torch intra-op threads (default: torch's)"
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    repeats = 2 if args.quick else args.repeats
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}"
    )

    digits = (load_digits().data / 16.0).astype(np.float32)
    device = args.device
    if device != "cpu":
        print(f"device: {torch.cuda.get_device_name(device)}")
        plain_fit(digits, 128, 10, 1, device=device)  # initialise CUDA first
    bench_fit(
        "digits 64-128-10", digits, 128, 10, 10 if args.quick else 30, repeats, device
    )

    mnist = np.load(MNIST)["X"].reshape(-1, 784).astype(np.float32) / 255.0
    if args.quick:
        mnist = mnist[:10000]
    bench_fit(
        "MNIST 784-400-20", mnist, 400, 20, 1 if args.quick else 2, repeats, device
    )
    if device != "cpu":
        return

    for name, X, hidden, latent in [
        ("digits 64-128-10", digits.astype(np.float64), 128, 10),
        ("MNIST 784-400-20", mnist.astype(np.float64), 400, 20),
    ]:
        vae = skvae_fit(X[:2000], hidden, latent, 1)
        bench_transform(name, X, vae, repeats)


if __name__ == "__main__":
    main()
