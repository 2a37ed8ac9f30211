"""How imputation time and error grow with rows: VAEImputer against sklearn's.

Tables of 1,000 to 100,000 rows are built by resampling a real one
(``diabetes``, 442 x 10, or ``breast_cancer``, 569 x 30) with replacement and
adding Gaussian noise of 0.1 column standard deviations, then standardising;
``--missing`` (20%) of the entries are removed completely at random, keeping
at least one per row. Each imputer is fitted on the incomplete table and fills
it in (fit, then transform, timed apart and together); RMSE is over
the removed entries, in standard deviations. Imputers:

* ``VAEImputer(random_state=0)`` (``--vae-max-iter`` overrides its epochs);
* ``IterativeImputer`` with ``BayesianRidge`` (its default), ``max_iter=10``;
* ``IterativeImputer`` with ``ExtraTreesRegressor(n_estimators=10)``,
  ``max_iter=5``;
* ``KNNImputer()``;
* the column mean, for scale.

Each line gives seconds, seconds per 1,000 rows and RMSE; ``ratio`` is
VAEImputer's time over BayesianRidge's in the same run. Any imputer whose
time at the previous size exceeded ``--budget`` seconds is skipped at larger
sizes. Run from the repository root (in the background, it is slow)::

    python benchmarks/bench_imputer_scaling.py --table diabetes
    python benchmarks/bench_imputer_scaling.py --table breast_cancer \\
        --sizes 1000 10000 100000
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import ExtraTreesRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer

from skvae import VAEImputer

TABLES = {"diabetes": load_diabetes, "breast_cancer": load_breast_cancer}


def make_table(name, n_rows, missing, seed=0):
    rng = np.random.RandomState(seed)
    X = TABLES[name]().data
    X = X[rng.randint(len(X), size=n_rows)]
    X = X + 0.1 * X.std(axis=0) * rng.randn(*X.shape)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    holes = rng.rand(*X.shape) < missing
    holes[holes.all(axis=1), 0] = False  # keep one entry per row
    X_missing = X.copy()
    X_missing[holes] = np.nan
    return X, X_missing, holes


def imputers(args):
    vae = {"random_state": 0}
    if args.vae_max_iter:
        vae["max_iter"] = args.vae_max_iter
    return {
        "VAEImputer": lambda: VAEImputer(**vae),
        "Iterative(BayesianRidge)": lambda: IterativeImputer(
            max_iter=10, random_state=0
        ),
        "Iterative(ExtraTrees)": lambda: IterativeImputer(
            ExtraTreesRegressor(n_estimators=10, random_state=0),
            max_iter=5,
            random_state=0,
        ),
        "KNNImputer": KNNImputer,
        "mean": SimpleImputer,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=sorted(TABLES), default="diabetes")
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1000, 3000, 10000, 30000, 100000]
    )
    parser.add_argument("--missing", type=float, default=0.2)
    parser.add_argument("--vae-max-iter", type=int, default=None)
    parser.add_argument("--budget", type=float, default=1800.0)
    parser.add_argument("--only", nargs="+", default=None)
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    makers = imputers(args)
    if args.only:
        makers = {k: v for k, v in makers.items() if k in args.only}
    over = set()
    print(f"table {args.table}, {args.missing:.0%} missing", flush=True)
    for n_rows in args.sizes:
        X, X_missing, holes = make_table(args.table, n_rows, args.missing)
        times = {}
        for name, make in makers.items():
            if name in over:
                print(f"{n_rows:7d} {name:26s} skipped (over budget)", flush=True)
                continue
            start = time.perf_counter()
            imputer = make().fit(X_missing)
            fitted = time.perf_counter()
            filled = imputer.transform(X_missing)
            seconds = time.perf_counter() - start
            times[name] = seconds
            rmse = np.sqrt(np.mean((filled[holes] - X[holes]) ** 2))
            epochs = getattr(imputer, "n_iter_", "")
            print(
                f"{n_rows:7d} {name:26s} {seconds:9.2f} s "
                f"(fit {fitted - start:8.2f} s, {epochs} epochs) "
                f"{1000 * seconds / n_rows:8.3f} s/1k rows  RMSE {rmse:.4f}",
                flush=True,
            )
            if seconds > args.budget:
                over.add(name)
        if "VAEImputer" in times and "Iterative(BayesianRidge)" in times:
            ratio = times["VAEImputer"] / times["Iterative(BayesianRidge)"]
            print(f"{n_rows:7d} ratio VAEImputer / BayesianRidge {ratio:.1f}x")


if __name__ == "__main__":
    main()
