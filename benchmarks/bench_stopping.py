"""The default stopping rule: epochs, time and held-out quality of default fits.

On digits / 16 (75/25 split, ``random_state=0``, 2 latent dimensions unless
said), for seeds ``--seeds``, in one process, medians printed:

* ``now``: ``VAETransformer(random_state=s)``, every parameter at its default
  (``early_stopping="auto"``, ``max_iter=500``, Adam 1e-3);
* ``before``: the previous defaults, ``max_iter=200, early_stopping=False``
  (the training-loss rule; it ended every fit in a ConvergenceWarning);
* ``lr 3e-3``: the defaults with ``learning_rate_init=3e-3``, the rate tried
  and reverted; ``--latents 2 5 10`` shows why (active dimensions and MSE).

``--latents auto`` fits ``n_components="auto"``, today's default (16
latent dimensions on digits, the active ones kept), to compare with
``before`` at 2, the default of the 200-epoch figure issue #17 names.
``--tols`` reruns ``early_stopping=True`` at each ``tol`` (seeds 0 and 1) to
show that the held-out rule does not depend on it. ``--tables`` fits the
defaults on the standardised iris, wine, diabetes and breast_cancer tables
and prints the epochs and any ConvergenceWarning. Run with one thread for
steadier times, from the repository root::

    SKVAE_NUM_THREADS=1 python benchmarks/bench_stopping.py
    SKVAE_NUM_THREADS=1 python benchmarks/bench_stopping.py --latents 5 10 --seeds 0 1
    SKVAE_NUM_THREADS=1 python benchmarks/bench_stopping.py \\
        --tols 1e-4 1e-2 1e-1 --tables
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skvae import VAETransformer

CONFIGS = {
    "now": {},
    "before": {"max_iter": 200, "early_stopping": False},
    "lr 3e-3": {"learning_rate_init": 3e-3},
}
TABLES = {
    "iris": load_iris,
    "wine": load_wine,
    "diabetes": load_diabetes,
    "breast_cancer": load_breast_cancer,
}


def fit(X_train, X_test, **params):
    """Fit one model; its epochs, seconds, held-out ELBO and MSE, active
    dimensions and whether it warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        vae = VAETransformer(**params).fit(X_train)
        seconds = time.perf_counter() - start
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    mse = float(np.mean((vae.inverse_transform(vae.transform(X_test)) - X_test) ** 2))
    return (
        vae.n_iter_,
        seconds,
        vae.score(X_test),
        mse,
        vae.n_active_components_,
        warned,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument(
        "--latents",
        type=lambda v: v if v == "auto" else int(v),
        nargs="+",
        default=[2],
        help='latent sizes: ints, or "auto" (the default n_components)',
    )
    parser.add_argument("--tols", type=float, nargs="*", default=[])
    parser.add_argument("--tables", action="store_true")
    args = parser.parse_args()
    X = load_digits().data / 16.0
    X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
    print(f"digits {X_train.shape} / {X_test.shape}; medians over seeds {args.seeds}")
    print(
        f"{'defaults':10s} {'k':>4s} {'epochs':>7s} {'fit s':>6s} {'ELBO':>7s} "
        f"{'MSE':>7s} {'active':>6s}  warned  ELBO per seed"
    )
    for k in args.latents:
        for name, config in CONFIGS.items():
            runs = [
                fit(X_train, X_test, n_components=k, random_state=s, **config)
                for s in args.seeds
            ]
            med = [statistics.median(r[i] for r in runs) for i in range(5)]
            print(
                f"{name:10s} {k!s:>4s} {med[0]:7.0f} {med[1]:6.2f} {med[2]:7.2f} "
                f"{med[3]:7.4f} {med[4]:6.0f}  {sum(r[5] for r in runs)}/{len(runs)}"
                f"  {[round(r[2], 1) for r in runs]}",
                flush=True,
            )
    for tol in args.tols:
        runs = [
            fit(X_train, X_test, early_stopping=True, tol=tol, random_state=s)
            for s in (0, 1)
        ]
        print(
            f"early_stopping=True, tol={tol:g}: epochs {[r[0] for r in runs]}, "
            f"ELBO {[round(r[2], 2) for r in runs]}",
            flush=True,
        )
    if args.tables:
        for name, load in TABLES.items():
            Xt = StandardScaler().fit_transform(load().data)
            a, b = train_test_split(Xt, test_size=0.25, random_state=0)
            n, seconds, elbo, _, _, warned = fit(a, b, random_state=0)
            print(
                f"{name:14s} {a.shape[0]:4d} rows: {n:4d} epochs {seconds:5.1f} s "
                f"held-out ELBO {elbo:8.2f} warned {warned}",
                flush=True,
            )


if __name__ == "__main__":
    main()
