"""Reconstruction against PCA: held-out MSE of VAETransformer and PCA on digits.

On scikit-learn's ``load_digits`` scaled to [0, 1] (X / 16), split 75/25 with
``random_state=0``, every model is fitted on the training rows and scored by
the mean squared error of ``inverse_transform(transform(X_test))`` against
``X_test`` (per pixel), at ``n_components`` 2, 5 and 10. A nonlinear decoder
should beat the best linear projection at 2 components.

VAE configurations (every parameter but the likelihood at its default:
``hidden_layer_sizes=(256, 128)``, ``batch_size=128``,
``learning_rate_init=3e-3``, ``max_iter=200`` and ``early_stopping="auto"``,
which on these 1,347 training rows holds out a tenth of them and stops on
their ELBO; ``--max-iter`` overrides the cap; ``device="cpu"``):

* ``bernoulli``: ``likelihood="bernoulli"``, the natural model for [0, 1] data;
* ``gaussian``: the default ``likelihood="gaussian"`` (scale floor 1e-3);
* ``gaussian-0.1`` (only when asked for): ``GaussianLikelihood(min_scale=0.1)``,
  a scale floor of about the data's quantisation step (1/16).

Exits with status 1 when a configuration run does not beat PCA at 2 components.

Run from the repository root::

    python benchmarks/bench_pca_digits.py                    # bernoulli, gaussian
    python benchmarks/bench_pca_digits.py --configs bernoulli --seeds 0 1 2
    python benchmarks/bench_pca_digits.py --configs gaussian gaussian-0.1
    python benchmarks/bench_pca_digits.py --max-iter 5       # smoke run
"""

import argparse
import statistics
import sys
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

import skvae
from skvae import GaussianLikelihood, VAETransformer

N_COMPONENTS = (2, 5, 10)
CONFIGS = {
    "bernoulli": {"likelihood": "bernoulli"},
    "gaussian": {"likelihood": "gaussian"},
    "gaussian-0.1": {"likelihood": GaussianLikelihood(min_scale=0.1)},
}


def held_out_mse(estimator, X_train, X_test):
    """Fit on X_train; return (test reconstruction MSE, fit seconds)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X_train)
        seconds = time.perf_counter() - start
    X_rec = estimator.inverse_transform(estimator.transform(X_test))
    return float(np.mean((X_rec - X_test) ** 2)), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--configs", nargs="+", choices=list(CONFIGS), default=["bernoulli", "gaussian"]
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="VAE random_state values; medians are reported",
    )
    parser.add_argument(
        "--max-iter", type=int, default=None, help="default: the estimator's"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's own choice)",
    )
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    X, _ = load_digits(return_X_y=True)
    X_train, X_test = train_test_split(X / 16.0, test_size=0.25, random_state=0)
    print(
        f"skvae {skvae.__version__}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; digits train {X_train.shape}, "
        f"test {X_test.shape}; VAE seeds {args.seeds}, max_iter {args.max_iter}"
    )

    pca = {k: held_out_mse(PCA(n_components=k), X_train, X_test) for k in N_COMPONENTS}

    header = (
        f"{'model':14s} {'k':>3s} {'MSE VAE':>9s} {'MSE PCA':>9s} {'VAE/PCA':>8s} "
        f"{'epochs':>6s} {'fit VAE s':>9s} {'fit PCA s':>9s}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    beats_at_2 = {}
    for name in args.configs:
        for k in N_COMPONENTS:
            runs = []
            for seed in args.seeds:
                cap = {} if args.max_iter is None else {"max_iter": args.max_iter}
                vae = VAETransformer(
                    n_components=k,
                    device="cpu",
                    random_state=seed,
                    **cap,
                    **CONFIGS[name],
                )
                mse, seconds = held_out_mse(vae, X_train, X_test)
                runs.append((mse, seconds, vae.n_iter_))
            mse = statistics.median(r[0] for r in runs)
            seconds = statistics.median(r[1] for r in runs)
            epochs = statistics.median(r[2] for r in runs)
            pca_mse, pca_seconds = pca[k]
            if k == 2:
                beats_at_2[name] = mse < pca_mse
            print(
                f"{name:14s} {k:3d} {mse:9.4f} {pca_mse:9.4f} {mse / pca_mse:8.2f} "
                f"{epochs:6.0f} {seconds:9.1f} {pca_seconds:9.3f}",
                flush=True,
            )

    print()
    for name, ok in beats_at_2.items():
        print(f"{name}: VAE {'beats' if ok else 'does NOT beat'} PCA at 2 components")
    return 0 if all(beats_at_2.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
