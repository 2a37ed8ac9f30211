"""VAEImputer settings against IterativeImputer: RMSE and time, one process.

The protocol of ``bench_tabular.py``'s imputation part: standardised
``diabetes``, ``breast_cancer`` and ``wine``, 20% of the entries hidden
completely at random (the seed sets which), RMSE over the hidden entries.
Each setting is ``VAEImputer(device="cpu", random_state=seed, **setting)``,
a setting being written as keyword arguments (``""`` for the defaults); each
is fitted and then transforms the same incomplete table, timed apart.
``IterativeImputer(max_iter=20)`` (BayesianRidge) is timed in the same loop,
and ``ratio`` is the setting's median fit + transform over its median.
Prints medians over ``--seeds`` and the RMSE of every seed.

Run with the thread count fixed, so that the settings' fits differ only by
the setting (a fit that picks its own count may round differently; see
``bench_threads_under_load.py --refits``), from the repository root::

    SKVAE_NUM_THREADS=1 python benchmarks/bench_imputer_defaults.py \\
        "" "n_importance=1000" --seeds 0 1 2 3 4
"""

import argparse
import ast
import statistics
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer

from skvae import VAEImputer

TABLES = {
    "diabetes": load_diabetes,
    "breast_cancer": load_breast_cancer,
    "wine": load_wine,
}


def setting(text):
    """``"a=1,b=(2, 3)"`` as keyword arguments (literals only)."""
    call = ast.parse(f"f({text})", mode="eval").body
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="+", help='e.g. "" "n_importance=1000"')
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    settings = {text: setting(text) for text in args.settings}
    warnings.simplefilter("ignore", ConvergenceWarning)
    # warm the process up (imports, allocator) outside every timing
    warm = np.random.RandomState(0).randn(50, 3)
    warm[0, 0] = np.nan
    VAEImputer(max_iter=1, device="cpu").fit(warm).transform(warm)
    print(f"medians over seeds {args.seeds}")
    for name, load in TABLES.items():
        X = load().data
        X = (X - X.mean(axis=0)) / X.std(axis=0)
        runs = {text: [] for text in settings}
        iterative = []
        for seed in args.seeds:
            hidden = np.random.RandomState(seed).rand(*X.shape) < 0.2
            X_missing = np.where(hidden, np.nan, X)
            start = time.perf_counter()
            IterativeImputer(random_state=seed, max_iter=20).fit_transform(X_missing)
            iterative.append(time.perf_counter() - start)
            for text, kwargs in settings.items():
                start = time.perf_counter()
                imputer = VAEImputer(device="cpu", random_state=seed, **kwargs)
                imputer.fit(X_missing)
                fitted = time.perf_counter()
                filled = imputer.transform(X_missing)
                done = time.perf_counter()
                rmse = float(np.sqrt(np.mean((filled - X)[hidden] ** 2)))
                runs[text].append(
                    (rmse, fitted - start, done - fitted, imputer.n_iter_)
                )
        base = statistics.median(iterative)
        for text, results in runs.items():
            rmse, fit_s, transform_s, epochs = (
                statistics.median(r[i] for r in results) for i in range(4)
            )
            total = statistics.median(r[1] + r[2] for r in results)
            print(
                f"{name:14s} {text or 'defaults':40s} RMSE {rmse:.3f} "
                f"({' '.join(f'{r[0]:.3f}' for r in results)}) fit {fit_s:.2f} s "
                f"transform {transform_s:.2f} s epochs {epochs:.0f} "
                f"ratio {total / base:.1f}x (IterativeImputer {base:.2f} s)",
                flush=True,
            )


if __name__ == "__main__":
    main()
