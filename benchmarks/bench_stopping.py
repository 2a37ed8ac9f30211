"""The default stopping rule: epochs, time and held-out quality of default fits.

On digits / 16 (75/25 split, ``random_state=0``, 2 latent dimensions unless
said), for seeds ``--seeds``, in one process, medians printed:

* ``now``: ``VAETransformer(random_state=s)``, every parameter at its default
  (``early_stopping="auto"``, ``max_iter=1000``, Adam 1e-3, the relative
  plateau rule at ``tol=1e-4``);
* ``tol 0.02``: the same at ``tol=0.02``, which stops sooner (the default
  from commit e67cc52 to 3c6aee6);
* ``tol 0``: the same with ``tol=0``, the rule before the relative one: stop
  when no epoch of the last 10 set a new best (the absolute ``tol=1e-4`` of
  that rule made no difference, ``--tols`` showed);
* ``before``: the defaults before ``early_stopping="auto"``, ``max_iter=200,
  early_stopping=False`` (the training-loss rule, at ``tol=0`` here; it
  ended every fit in a ConvergenceWarning);
* ``lr 3e-3``: the defaults with ``learning_rate_init=3e-3``, the rate tried
  and reverted; ``--latents 2 5 10`` shows why (active dimensions and MSE);
  ``lr 3e-3 kl20`` the same with a 20-epoch warm-up of the KL weight.

``--curves`` trains the defaults for 300 epochs that never stop (held-out
rows, ``n_iter_no_change=1000``) and prints, per seed, the held-out ELBO's
mean change per epoch over epochs 1-30, 30-150 and 150-300, and the standard
deviation of its epoch-to-epoch changes over 100-200: the shape the
relative rule of ``tol`` was chosen for.

``--latents auto`` fits ``n_components="auto"``, today's default (16
latent dimensions on digits, the active ones kept), to compare with
``before`` at 2, the default of the 200-epoch figure issue #17 names.
``--tols`` reruns the defaults at each ``tol`` (the seeds given, at the
first ``--latents``) to show what the relative rule trades: epochs against
held-out ELBO. ``--tables`` fits the defaults and ``tol=0`` on the
standardised iris, wine, diabetes and breast_cancer tables and prints the
epochs, held-out ELBO and any ConvergenceWarning. Run with one thread for
steadier times, from the repository root::

    SKVAE_NUM_THREADS=1 python benchmarks/bench_stopping.py
    SKVAE_NUM_THREADS=1 python benchmarks/bench_stopping.py --latents 5 10 --seeds 0 1
    SKVAE_NUM_THREADS=1 python benchmarks/bench_stopping.py \\
        --latents auto 2 --configs now "tol 0" before
    SKVAE_NUM_THREADS=1 python benchmarks/bench_stopping.py --latents auto \\
        --configs --tols 0.01 0.05 --tables
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
    "tol 0.02": {"tol": 0.02},
    "tol 0": {"tol": 0.0},
    "before": {"max_iter": 200, "early_stopping": False, "tol": 0.0},
    "lr 3e-3": {"learning_rate_init": 3e-3},
    "lr 3e-3 kl20": {"learning_rate_init": 3e-3, "kl_warmup": 20},
}
CURVE_SPANS = [(1, 30), (30, 150), (150, 300)]
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
    parser.add_argument(
        "--configs", nargs="*", choices=sorted(CONFIGS), default=sorted(CONFIGS)
    )
    parser.add_argument("--tols", type=float, nargs="*", default=[])
    parser.add_argument("--tables", action="store_true")
    parser.add_argument("--curves", action="store_true")
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
            if name not in args.configs:
                continue
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
        k = args.latents[0]
        runs = [
            fit(X_train, X_test, n_components=k, tol=tol, random_state=s)
            for s in args.seeds
        ]
        med = [statistics.median(r[i] for r in runs) for i in range(3)]
        print(
            f"tol={tol:g}, k={k}: epochs {[r[0] for r in runs]} (median "
            f"{med[0]:.0f}), fit {med[1]:.2f} s, ELBO {[round(r[2], 2) for r in runs]}"
            f" (median {med[2]:.2f})",
            flush=True,
        )
    if args.curves:
        for seed in args.seeds:
            vae = VAETransformer(
                random_state=seed,
                early_stopping=True,
                n_iter_no_change=1000,
                max_iter=300,
            ).fit(X_train)
            v = np.asarray(vae.validation_scores_)
            rates = [
                f"{a}-{b}: {(v[b - 1] - v[a - 1]) / (b - a):+.3f}"
                for a, b in CURVE_SPANS
            ]
            print(
                f"seed {seed}: held-out ELBO per epoch {', '.join(rates)}"
                + f"; sd of epoch changes 100-200: {np.diff(v[99:200]).std():.3f}",
                flush=True,
            )
    if args.tables:
        for name, load in TABLES.items():
            Xt = StandardScaler().fit_transform(load().data)
            a, b = train_test_split(Xt, test_size=0.25, random_state=0)
            for tol in (0.02, 0.0):
                n, seconds, elbo, _, _, warned = fit(a, b, tol=tol, random_state=0)
                print(
                    f"{name:14s} {a.shape[0]:4d} rows, tol={tol:g}: {n:4d} epochs "
                    f"{seconds:5.1f} s held-out ELBO {elbo:8.2f} warned {warned}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
