"""Oversampling imbalanced tables: skvae.VAEOversampler against imbalanced-learn.

Tables (all bundled with scikit-learn, none downloaded), each made binary
with the positive class as the minority:

* ``breast_cancer``: malignant (1) against benign;
* ``wine``: cultivar 0 against the other two;
* ``digits``: the digit 8 against the other nine (8x8 pixels);
* ``diabetes``: disease progression in the top quintile against the rest
  (the regression target thresholded at its 80th percentile);
* ``iris``: versicolor against the other two (not linearly separable).

No mixed-type table ships with scikit-learn or imbalanced-learn (their
bundled tables are all numeric; statsmodels' are not installed here), so
``SMOTENC`` is not run.

Per table, ratio and seed: a stratified 70/30 split of the original table
(``random_state=seed``); the training part is made imbalanced with
``imblearn.datasets.make_imbalance`` to ``--ratios`` (minority:majority 1:10
and 1:50), keeping at least ``MIN_MINORITY`` minority rows (the
neighbours SMOTE and ADASYN need) where the ratio would leave fewer; the
held-out 30% (real rows, the table's own class balance) scores the models.
Samplers, each fitted on the imbalanced training rows with its defaults
(``random_state=seed``): none, ``RandomOverSampler``, ``SMOTE``, ``ADASYN``
and ``skvae.VAEOversampler``. Each resampled set trains
``make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))`` and
``RandomForestClassifier(random_state=seed)``; scores are macro-F1 and
balanced accuracy on the held-out rows. Every number is the median over the
seeds; time is ``fit_resample``'s wall time (fit + resample), with its ratio
to SMOTE's in the same process. ADASYN refuses some sets (no minority row
with majority neighbours); its medians are then over the seeds it ran on,
and the count of refusals is printed.

``--floor`` also times what no network-based sampler can undercut: the plain
PyTorch loop of ``reference_vae.py`` (no checks, no early stopping, no
conditioning) training a smaller network than the default's (one hidden
layer of 64 units, 2 latents) for the default's 200 epochs of mini-batches of
128 on the same rows (min-max scaled), and prints its ratio to SMOTE's time.

Run from the repository root, with ``SKVAE_NUM_THREADS=1 OMP_NUM_THREADS=1``
in the environment (one thread)::

    python benchmarks/bench_oversampling.py            # about 1 minute here
    python benchmarks/bench_oversampling.py --quick    # 2 seeds, 2 tables
"""

import argparse
import time
import warnings

import numpy as np
from imblearn.datasets import make_imbalance
from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler
from reference_vae import train_reference
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skvae import ConditionalVAE, VAEOversampler

MIN_MINORITY = 6  # SMOTE's k_neighbors=5 (and ADASYN's) need 6 rows
SAMPLERS = ("none", "random", "smote", "adasyn", "skvae")
SCORES = (("lr", "f1"), ("lr", "bacc"), ("rf", "f1"), ("rf", "bacc"))


def load_tables():
    """name -> (X float64, y in {0, 1} with 1 the minority class)."""
    tables = {}
    X, y = load_breast_cancer(return_X_y=True)
    tables["breast_cancer"] = X, (y == 0).astype(int)  # 0 is malignant
    X, y = load_wine(return_X_y=True)
    tables["wine"] = X, (y == 0).astype(int)
    X, y = load_digits(return_X_y=True)
    tables["digits"] = X, (y == 8).astype(int)
    X, t = load_diabetes(return_X_y=True)
    tables["diabetes"] = X, (t > np.quantile(t, 0.8)).astype(int)
    X, y = load_iris(return_X_y=True)
    tables["iris"] = X, (y == 1).astype(int)
    return tables


def make_sampler(name, seed, epochs):
    if name == "random":
        return RandomOverSampler(random_state=seed)
    if name == "smote":
        return SMOTE(random_state=seed)
    if name == "adasyn":
        return ADASYN(random_state=seed)
    if epochs is None:
        return VAEOversampler(random_state=seed)
    model = VAEOversampler(random_state=seed)._model(np.random.RandomState(seed))
    return VAEOversampler(
        ConditionalVAE(**{**model.get_params(), "max_iter": epochs}), random_state=seed
    )


def classifiers(seed):
    return {
        "lr": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)),
        "rf": RandomForestClassifier(random_state=seed, n_jobs=1),
    }


def floor_time(X, seed, epochs=200):
    """Seconds of the plain PyTorch loop on X: the default's epochs, a
    one-hidden-layer network of 64 units (smaller than the default's two)."""
    span = X.max(axis=0) - X.min(axis=0)
    X01 = (X - X.min(axis=0)) / np.where(span > 0, span, 1.0)
    start = time.perf_counter()
    train_reference(
        X01,
        n_epochs=epochs,
        batch_size=128,
        seed=seed,
        lr=3e-3,
        n_hidden=64,
        n_latent=2,
    )
    return time.perf_counter() - start


def one_run(X, y, ratio, seed, epochs, floor=False):
    """sampler -> {(clf, metric): score, "time": s}; n minority rows."""
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=0.3, stratify=y, random_state=seed
    )
    n_major = int(np.sum(y_tr == 0))
    n_minor = min(int(np.sum(y_tr == 1)), max(MIN_MINORITY, n_major // ratio))
    X_im, y_im = make_imbalance(
        X_tr, y_tr, sampling_strategy={1: n_minor}, random_state=seed
    )
    out = {}
    for name in SAMPLERS:
        start = time.perf_counter()
        try:
            if name == "none":
                X_rs, y_rs = X_im, y_im
            else:
                X_rs, y_rs = make_sampler(name, seed, epochs).fit_resample(X_im, y_im)
        except (RuntimeError, ValueError):  # ADASYN: no row to generate from
            continue
        elapsed = time.perf_counter() - start
        row = {"time": elapsed}
        for clf_name, clf in classifiers(seed).items():
            pred = clf.fit(X_rs, y_rs).predict(X_te)
            row[clf_name, "f1"] = f1_score(y_te, pred, average="macro")
            row[clf_name, "bacc"] = balanced_accuracy_score(y_te, pred)
        out[name] = row
    if floor:
        out["floor"] = {"time": floor_time(X_im, seed)}
    return out, n_minor, n_major


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ratios", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--tables", nargs="+", default=None)
    parser.add_argument(
        "--epochs", type=int, default=None, help="VAEOversampler's max_iter"
    )
    parser.add_argument(
        "--quick", action="store_true", help="2 seeds, breast_cancer and wine"
    )
    parser.add_argument(
        "--floor", action="store_true", help="also time the plain PyTorch loop"
    )
    args = parser.parse_args()
    tables = load_tables()
    names = args.tables or list(tables)
    n_seeds = args.seeds
    if args.quick:
        names, n_seeds = args.tables or ["breast_cancer", "wine"], 2
    wins = {key: 0 for key in SCORES}
    cells = 0
    total = time.perf_counter()
    summary = []
    for table in names:
        X, y = tables[table]
        for ratio in args.ratios:
            runs, minors = [], set()
            for seed in range(n_seeds):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res, n_minor, n_major = one_run(
                        X, y, ratio, seed, args.epochs, args.floor
                    )
                runs.append(res)
                minors.add((n_minor, n_major))
            (n_minor, n_major), *_ = sorted(minors)
            print(
                f"\n{table} 1:{ratio} (train: {n_minor} minority, {n_major} "
                f"majority rows; 1:{n_major / n_minor:.0f}; test {round(len(y) * 0.3)}"
                f" real rows), medians over {n_seeds} seeds"
            )
            print(
                f"  {'sampler':<8} {'LR F1':>6} {'LR BA':>6} {'RF F1':>6} "
                f"{'RF BA':>6} {'time s':>8} {'x SMOTE':>8}"
            )
            med = {}
            for name in SAMPLERS:
                rows = [r[name] for r in runs if name in r]
                if not rows:
                    print(f"  {name:<8} refused on every seed")
                    continue
                med[name] = {k: float(np.median([r[k] for r in rows])) for k in rows[0]}
            smote_time = med["smote"]["time"]
            for name, m in med.items():
                refused = n_seeds - sum(name in r for r in runs)
                note = f"  ({refused} seeds refused)" if refused else ""
                scores = " ".join(f"{m[k]:6.3f}" for k in SCORES)
                print(
                    f"  {name:<8} {scores} {m['time']:8.4f} "
                    f"{m['time'] / smote_time:8.1f}{note}"
                )
            if args.floor:
                floor = float(np.median([r["floor"]["time"] for r in runs]))
                med["floor"] = {"time": floor}
                print(
                    f"  {'plain PyTorch loop (no sampling)':<40} {floor:8.4f} "
                    f"{floor / smote_time:8.1f}"
                )
            for key in SCORES:
                wins[key] += med["skvae"][key] >= med["smote"][key]
            cells += 1
            summary.append((table, ratio, med))
    print(f"\nskvae >= SMOTE (medians), out of {cells} table-ratio pairs:")
    for key in SCORES:
        print(f"  {key[0].upper()} {key[1]}: {wins[key]}")
    ratios = [m["skvae"]["time"] / m["smote"]["time"] for _, _, m in summary]
    print(
        f"skvae fit+resample time / SMOTE's: median {np.median(ratios):.0f}x "
        f"(min {min(ratios):.0f}x, max {max(ratios):.0f}x); target <= 10x"
    )
    if args.floor:
        floors = [m["floor"]["time"] / m["smote"]["time"] for _, _, m in summary]
        print(
            f"plain PyTorch loop time / SMOTE's: median {np.median(floors):.0f}x "
            f"(min {min(floors):.0f}x, max {max(floors):.0f}x)"
        )
    print(f"total wall time {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
