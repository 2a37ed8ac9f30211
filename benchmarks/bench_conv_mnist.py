"""Convolutional against MLP VAE on binarized MNIST: NLL, fit time, size, speed.

Both models are ``VAETransformer`` with the same latent width (20), Bernoulli
likelihood, Adam (learning rate 1e-3), batch size 128 and number of epochs,
trained through the public API on *dynamically* binarized MNIST (as in
``bench_iwae_mnist.py``: every epoch the training images are binarized afresh
and passed to ``partial_fit``, one epoch each):

* MLP: ``hidden_layer_sizes=(400,)``, the 784-400-20 network of Kingma and
  Welling (2014) and ``bench_speed.py``;
* conv: ``architecture=ConvArchitecture(channels=(32, 64), kernel_size=4)``,
  ``image_shape=(1, 28, 28)``: 28x28 -> 14x14x32 -> 7x7x64 -> linear (the
  defaults), and the
  mirror image with transposed convolutions.

Reported per model: the test NLL upper bound ``-score(X, n_importance=k)``
(k=1000 by default) on ``--test-rows`` fixed test rows (binarized once with a
fixed seed), the ELBO on the same rows, the fit wall time (the sum of the
``partial_fit`` calls, binarization excluded), the number of parameters, and
prior samples per second (``sample(10_000)``).

Speed: ``--speed-epochs`` epochs (3) of the conv model's training step in
skvae (``fit``, at the same fixed thread count) against a plain
PyTorch loop over the *same* convolutional network (the modules built by
``ConvArchitecture.build``, preloaded tensor, ``randperm`` slicing, the
closed-form KL), alternating in this one process; the ratio
plain_time / skvae_time (above 1: skvae is faster), as in ``bench_speed.py``.

Run from the repository root::

    python benchmarks/bench_conv_mnist.py                       # 20 epochs, all rows
    python benchmarks/bench_conv_mnist.py --epochs 5 --n-train 20000   # CPU budget
    python benchmarks/bench_conv_mnist.py --epochs 1 --n-train 2000 --test-rows 50 \\
        --k 100 --speed-rows 2000                                # smoke run
    python benchmarks/bench_conv_mnist.py --figure conv_mnist.png   # and the figure
"""

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from torch.nn import functional as F

from skvae import ConvArchitecture, VAETransformer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
TEST_BINARIZE_SEED = 1
TEST_SUBSET_SEED = 2


def load_images(data_dir, split, n_rows=None):
    """MNIST ``split`` as float32 (n, 784) intensities in [0, 1]."""
    X = np.load(Path(data_dir) / f"mnist_{split}_uint8.npz")["X"]
    if n_rows is not None:
        X = X[:n_rows]
    return (X.reshape(len(X), -1) / np.float32(255.0)).astype(np.float32)


def make_models(args):
    common = dict(
        likelihood="bernoulli",
        batch_size=128,
        learning_rate_init=1e-3,
        max_iter=1,
        early_stopping=False,  # the same epochs, all rows, for both models
        device=args.device,
        random_state=0,
    )
    conv = ConvArchitecture(channels=tuple(args.channels), kernel_size=4)
    return {
        "mlp": VAETransformer(args.latent, hidden_layer_sizes=(400,), **common),
        "conv": VAETransformer(
            args.latent, architecture=conv, image_shape=(1, 28, 28), **common
        ),
    }


def n_parameters(vae):
    return sum(p.numel() for p in vae.module_.parameters())


def train(vae, X, epochs, seed):
    rng = np.random.default_rng(seed)
    seconds = 0.0
    for _ in range(epochs):
        Xb = (rng.random(X.shape, dtype=np.float32) < X).astype(np.float32)
        start = time.perf_counter()
        vae.partial_fit(Xb)
        seconds += time.perf_counter() - start
    return seconds


def plain_epoch(encoder, decoder, optimizer, X, generator, d):
    """One epoch of a careful hand-written loop over the same networks."""
    perm = torch.randperm(len(X), generator=generator)
    total = torch.zeros(())
    for start in range(0, len(X), 128):
        x = X[perm[start : start + 128]]
        loc, log_scale = encoder(x).chunk(2, dim=-1)
        eps = torch.randn(loc.shape, generator=generator)
        logits = decoder(loc + log_scale.exp() * eps)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        kl = 0.5 * (loc.square() + (2 * log_scale).exp() - 1 - 2 * log_scale).sum()
        loss = (recon + kl) / len(x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total += loss.detach()
    return float(total)


def bench_speed(args, X):
    """Median seconds of ``--speed-epochs`` epochs: plain loop and skvae, on the
    same conv network."""
    X = (np.random.default_rng(3).random(X.shape, dtype=np.float32) < X).astype(
        np.float32
    )
    arch = ConvArchitecture(channels=tuple(args.channels), kernel_size=4)
    tensor = torch.from_numpy(X)
    plain, ours, single = [], [], []
    # the same thread count for both: skvae would otherwise measure its own
    saved = os.environ.get("SKVAE_NUM_THREADS")
    os.environ["SKVAE_NUM_THREADS"] = str(torch.get_num_threads())
    try:
        for rep in range(args.repeats):
            p, o = _speed_pair(args, arch, tensor, X, rep)
            plain.append(p)
            ours.append(o)
            single.append(_skvae_fit_seconds(args, arch, X, rep, 1))
    finally:
        if saved is None:
            del os.environ["SKVAE_NUM_THREADS"]
        else:
            os.environ["SKVAE_NUM_THREADS"] = saved
    return statistics.median(plain), statistics.median(ours), statistics.median(single)


def _skvae_fit_seconds(args, arch, X, rep, n_epochs):
    vae = VAETransformer(
        args.latent,
        architecture=arch,
        image_shape=(1, 28, 28),
        likelihood="bernoulli",
        max_iter=n_epochs,
        early_stopping=False,  # every row trained on, as in the plain loop
        tol=0.0,
        n_iter_no_change=n_epochs + 1,
        device="cpu",
        random_state=rep,
    )
    start = time.perf_counter()
    vae.fit(X)
    return time.perf_counter() - start


def _speed_pair(args, arch, tensor, X, rep):
    """Seconds of ``--speed-epochs`` epochs: the plain loop, then skvae's fit."""
    encoder, decoder = arch.build(784, args.latent, 784, (1, 28, 28))
    optimizer = torch.optim.Adam(
        [*encoder.parameters(), *decoder.parameters()], lr=1e-3
    )
    generator = torch.Generator().manual_seed(rep)
    start = time.perf_counter()
    for _ in range(args.speed_epochs):
        plain_epoch(encoder, decoder, optimizer, tensor, generator, args.latent)
    plain = time.perf_counter() - start
    return plain, _skvae_fit_seconds(args, arch, X, rep, args.speed_epochs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n-train", type=int, default=None, help="first N train rows")
    parser.add_argument("--test-rows", type=int, default=1000)
    parser.add_argument("--k", type=int, default=1000, help="importance samples")
    parser.add_argument("--latent", type=int, default=20)
    parser.add_argument("--channels", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads")
    parser.add_argument("--speed-rows", type=int, default=10000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--speed-epochs",
        type=int,
        default=3,
        help="epochs per speed measurement (fit's fixed costs amortised over them)",
    )
    parser.add_argument("--models", nargs="+", default=["mlp", "conv"])
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--figure",
        help="write prior samples and a latent interpolation of each model here "
        "(the gallery's plot_conv_vae.py at MNIST size; needs matplotlib)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs, python {sys.version.split()[0]}; "
        f"{' '.join(sys.argv[1:]) or '(defaults)'}",
        flush=True,
    )
    X_train = load_images(args.data, "train", args.n_train)
    X_test = load_images(args.data, "t10k")
    rows = np.random.default_rng(TEST_SUBSET_SEED).choice(
        len(X_test), args.test_rows, replace=False
    )
    rng = np.random.default_rng(TEST_BINARIZE_SEED)
    X_test = (rng.random(X_test.shape, dtype=np.float32) < X_test).astype(np.float32)
    X_test = X_test[np.sort(rows)].astype(np.float64)

    results, fitted = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name, vae in make_models(args).items():
            if name not in args.models:
                continue
            fit_s = train(vae, X_train, args.epochs, seed=0)
            start = time.perf_counter()
            nll = -vae.score(X_test, n_importance=args.k)
            score_s = time.perf_counter() - start
            elbo = vae.score(X_test)
            start = time.perf_counter()
            vae.sample(10_000, random_state=0)
            samples_per_s = 10_000 / (time.perf_counter() - start)
            fitted[name] = vae
            results[name] = {
                "test_nll": nll,
                "test_elbo": elbo,
                "fit_seconds": fit_s,
                "n_parameters": n_parameters(vae),
                "samples_per_second": samples_per_s,
                "score_seconds": score_s,
            }
            print(
                f"{name:5s} NLL(k={args.k}) {nll:7.2f}  -ELBO {-elbo:7.2f}  "
                f"fit {fit_s:7.1f} s ({args.epochs} epochs, {len(X_train)} rows)  "
                f"params {n_parameters(vae):,}  samples/s {samples_per_s:,.0f}  "
                f"(scoring {score_s:.0f} s)",
                flush=True,
            )
    if {"mlp", "conv"} <= results.keys():
        m, c = results["mlp"], results["conv"]
        print(
            f"conv - mlp NLL {c['test_nll'] - m['test_nll']:+.2f} nats; "
            f"fit time ratio conv/mlp {c['fit_seconds'] / m['fit_seconds']:.2f}x"
        )
    if args.speed_rows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            plain, ours, one = bench_speed(args, X_train[: args.speed_rows])
        # fit's fixed costs (the latent ordering's pass over the rows, the
        # data-aware start) drop out of the difference of the two fits
        per_epoch = (ours - one) / max(args.speed_epochs - 1, 1)
        step_ratio = plain / args.speed_epochs / per_epoch
        results["speed"] = {
            "plain_s": plain,
            "skvae_s": ours,
            "ratio": plain / ours,
            "skvae_one_epoch_fit_s": one,
            "step_ratio": step_ratio,
        }
        print(
            f"conv training step, {args.speed_epochs} epochs of "
            f"{min(args.speed_rows, len(X_train))} rows: plain loop {plain:.2f} s  "
            f"skvae {ours:.2f} s  speed-up "
            f"{plain / ours:.2f}x (median of {args.repeats})",
            flush=True,
        )
        print(
            f"per epoch, without fit's fixed costs ({args.speed_epochs}- minus "
            f"1-epoch fit): skvae {per_epoch:.2f} s, plain loop "
            f"{plain / args.speed_epochs:.2f} s, speed-up {step_ratio:.2f}x",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    if args.figure and fitted:
        write_figure(fitted, X_test, args.figure)


def write_figure(models, X_test, path, n=10):
    """Rows of prior samples and of an interpolation between two test digits
    (its end points included), per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2 * len(models), n, figsize=(n, 2.3 * len(models)))
    for i, (name, vae) in enumerate(models.items()):
        rows = {
            "prior samples": vae.sample(n, random_state=0),
            "interpolation": vae.interpolate(X_test[[0]], X_test[[1]], n_steps=n)[0],
        }
        for k, (what, images) in enumerate(rows.items()):
            for j, image in enumerate(images):
                ax = axes[2 * i + k, j]
                ax.imshow(image.reshape(28, 28), cmap="gray_r", vmin=0, vmax=1)
                ax.set_axis_off()
            axes[2 * i + k, 0].set_title(f"{name}: {what}", loc="left", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"figure written to {path}")


if __name__ == "__main__":
    main()
