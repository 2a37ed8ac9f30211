"""Correctness: skvae's test ELBO against a plain PyTorch VAE on binarized MNIST.

Trains ``reference_vae.ReferenceVAE`` (784-400-20, ReLU, Bernoulli, Adam 1e-3,
batch 128) and ``VAETransformer`` with the same architecture and settings for
the same number of epochs, then compares their test negative ELBOs (nats per
row). If skvae's ELBO or training loop were wrong, the two would disagree by
far more than seed-to-seed noise. Exits with status 1 when a gap exceeds
``--tolerance`` (1.5 nats by default).

Two estimates are compared for each seed:

* ``1 draw``: skvae's own ``-vae.score(X_test)`` (one latent draw per row)
  against the reference's ``negative_elbo`` with one draw per row;
* ``N draws``: both trained models scored by the *reference's* ``negative_elbo``
  with ``--draws`` latent draws per row, which lowers the Monte Carlo noise and
  also checks ``score`` against an independent implementation of the ELBO.

Run from the repository root::

    python benchmarks/bench_elbo_mnist.py            # full: 60k/10k rows, 10 epochs
    python benchmarks/bench_elbo_mnist.py --epochs 1 --n-train 5000  # smoke run
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from reference_vae import negative_elbo, train_reference
from sklearn.exceptions import ConvergenceWarning

import skvae
from skvae import VAETransformer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
TRAIN_BINARIZE_SEED = 0
TEST_BINARIZE_SEED = 1


def load_binarized(data_dir, split, seed, n_rows=None):
    """MNIST ``split`` as float32 (n, 784) in {0, 1}, binarized once with ``seed``."""
    X = np.load(Path(data_dir) / f"mnist_{split}_uint8.npz")["X"]
    if n_rows is not None:
        X = X[:n_rows]
    X = X.reshape(len(X), -1) / 255.0
    rng = np.random.default_rng(seed)
    return (rng.random(X.shape) < X).astype(np.float32)


class SkvaeAsReference:
    """View a fitted ``VAEModule`` through the reference's encode/decode API."""

    def __init__(self, module):
        self.module = module

    def encode(self, x):
        loc, log_scale = self.module.encode(x)
        return loc, 2.0 * log_scale  # log-variance

    def decode(self, z):
        return self.module.decode(z)  # Bernoulli logits


def fit_reference(X_train, epochs, seed):
    t0 = time.perf_counter()
    ref, history = train_reference(X_train, n_epochs=epochs, batch_size=128, seed=seed)
    return ref, history, time.perf_counter() - t0


def fit_skvae(X_train, epochs, seed):
    vae = VAETransformer(
        n_components=20,
        hidden_layer_sizes=(400,),
        likelihood="bernoulli",
        batch_size=128,
        learning_rate_init=1e-3,
        max_iter=epochs,
        early_stopping=False,  # the reference's epochs on the same rows
        device="cpu",
        random_state=seed,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t0 = time.perf_counter()
        vae.fit(X_train)
    return vae, time.perf_counter() - t0


def run_once(X_train, X_test, *, epochs, seed, draws):
    # Alternate which model trains first, so that warm-up or a busy machine
    # does not always penalise the same one.
    if seed % 2 == 0:
        ref, ref_history, ref_time = fit_reference(X_train, epochs, seed)
        vae, vae_time = fit_skvae(X_train, epochs, seed)
    else:
        vae, vae_time = fit_skvae(X_train, epochs, seed)
        ref, ref_history, ref_time = fit_reference(X_train, epochs, seed)

    result = {
        "seed": seed,
        "ref_time": ref_time,
        "vae_time": vae_time,
        "ref_curve": [h["loss"] for h in ref_history],
        "vae_curve": list(vae.loss_curve_),
        "ref_1": negative_elbo(ref, X_test, n_draws=1, seed=1000 + seed),
        "vae_1": -vae.score(X_test),
    }
    if draws > 1:
        adapter = SkvaeAsReference(vae.module_)
        result["ref_n"] = negative_elbo(ref, X_test, n_draws=draws, seed=2000 + seed)
        result["vae_n"] = negative_elbo(
            adapter, X_test, n_draws=draws, seed=2000 + seed
        )
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n-train", type=int, default=None, help="default: all 60000")
    parser.add_argument("--n-test", type=int, default=None, help="default: all 10000")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--draws",
        type=int,
        default=10,
        help="latent draws per row for the N-draw check",
    )
    parser.add_argument("--tolerance", type=float, default=1.5)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's own choice)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    X_train = load_binarized(args.data_dir, "train", TRAIN_BINARIZE_SEED, args.n_train)
    X_test = load_binarized(args.data_dir, "t10k", TEST_BINARIZE_SEED, args.n_test)
    print(
        f"skvae {skvae.__version__} ({Path(skvae.__file__).parent}), torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, "
        f"train {X_train.shape}, test {X_test.shape}, {args.epochs} epochs"
    )

    results = []
    for seed in args.seeds:
        r = run_once(X_train, X_test, epochs=args.epochs, seed=seed, draws=args.draws)
        results.append(r)
        print(f"\nseed {seed}")
        print("  epoch  train -ELBO reference  train -ELBO skvae")
        for i, (a, b) in enumerate(
            zip(r["ref_curve"], r["vae_curve"], strict=True), start=1
        ):
            print(f"  {i:5d}  {a:21.2f}  {b:17.2f}")
        print(
            f"  test -ELBO, 1 draw:   reference {r['ref_1']:.2f}  "
            f"skvae {r['vae_1']:.2f}  gap (skvae - ref) {r['vae_1'] - r['ref_1']:+.2f}"
        )
        if "ref_n" in r:
            print(
                f"  test -ELBO, {args.draws} draws: reference {r['ref_n']:.2f}  "
                f"skvae {r['vae_n']:.2f}  gap {r['vae_n'] - r['ref_n']:+.2f}"
            )
        print(
            f"  fit time: reference {r['ref_time']:.1f} s  skvae {r['vae_time']:.1f} s"
            f"  ratio skvae/ref {r['vae_time'] / r['ref_time']:.2f}"
        )

    def med(key):
        return statistics.median(r[key] for r in results)

    gaps = {"1 draw": [r["vae_1"] - r["ref_1"] for r in results]}
    if args.draws > 1:
        gaps[f"{args.draws} draws"] = [r["vae_n"] - r["ref_n"] for r in results]
    print(f"\nsummary over seeds {args.seeds} (medians)")
    print(f"  test -ELBO reference (1 draw)  {med('ref_1'):.2f} nats")
    print(f"  test -ELBO skvae (-score)      {med('vae_1'):.2f} nats")
    for name, values in gaps.items():
        print(
            f"  gap skvae - reference, {name:8s} {statistics.median(values):+.2f} nats"
            f"  (max |gap| {max(abs(g) for g in values):.2f})"
        )
    print(
        f"  fit time reference {med('ref_time'):.1f} s, skvae {med('vae_time'):.1f} s, "
        f"ratio {statistics.median(r['vae_time'] / r['ref_time'] for r in results):.2f}"
    )

    worst = max(abs(g) for values in gaps.values() for g in values)
    ok = worst <= args.tolerance
    print(
        f"  {'PASS' if ok else 'FAIL'}: largest |gap| {worst:.2f} nats, "
        f"tolerance {args.tolerance} nats"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
