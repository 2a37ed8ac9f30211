"""n_components="auto" against n_components=2: components kept, held-out ELBO.

Each table is split 75/25 (``random_state=0``); ``VAETransformer`` is fitted
on the first part with every other parameter at its default and scored on
the second (``score``: the mean held-out ELBO, nats per row, higher is
better; comparable between the two models of one table, not across tables).
The tables are ``load_digits().data / 16`` and the frames
``load_wine(as_frame=True).frame`` and ``load_breast_cancer(as_frame=True)
.frame`` (target column included, as a user passing the frame would),
modelled as tables (each column scaled by ``numeric_scaling``'s default).
``--early-stopping`` fits with ``early_stopping=True`` (validation on a tenth
of the rows, whatever their number). For each seed of
``--seeds`` it prints the latent width fitted (``n_latent_``), the columns
kept (``n_components_``), the active dimensions, the epochs, the fit time,
the ELBO and the KL of the leading latent dimensions.

``--widths 16 32`` fits digits at those integer widths instead and prints
the active dimensions and the ELBO: the measurement behind ``"auto"``'s cap
of 16 latent dimensions (``skvae._components.AUTO_MAX_COMPONENTS``). Run
from the repository root, with one thread for steadier times::

    SKVAE_NUM_THREADS=1 python benchmarks/bench_auto_components.py
    SKVAE_NUM_THREADS=1 python benchmarks/bench_auto_components.py --early-stopping
    SKVAE_NUM_THREADS=1 python benchmarks/bench_auto_components.py \\
        --widths 16 32 --seeds 0 1 2
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split

from skvae import VAETransformer

TABLES = {
    "digits": lambda: load_digits().data / 16.0,
    "wine": lambda: load_wine(as_frame=True).frame,
    "breast_cancer": lambda: load_breast_cancer(as_frame=True).frame,
}


def fit(X_train, X_test, n_components, seed, **params):
    """Fitted model, seconds and held-out ELBO of one default fit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        vae = VAETransformer(n_components, random_state=seed, device="cpu", **params)
        vae.fit(X_train)
        seconds = time.perf_counter() - start
    return vae, seconds, vae.score(X_test)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--widths", type=int, nargs="*", default=[])
    parser.add_argument("--early-stopping", action="store_true")
    args = parser.parse_args()
    params = {"early_stopping": True} if args.early_stopping else {}
    print(
        f"{'table':14s} {'n_components':>12s} {'seed':>4s} {'n_latent_':>9s} "
        f"{'kept':>4s} {'active':>6s} {'epochs':>6s} {'fit s':>6s} {'ELBO':>8s}  "
        "leading KL"
    )
    if args.widths:
        runs = [("digits", k) for k in args.widths]
    else:
        runs = [(name, k) for name in TABLES for k in ("auto", 2)]
    for name, k in runs:
        X = TABLES[name]()
        X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
        for seed in args.seeds:
            vae, seconds, elbo = fit(X_train, X_test, k, seed, **params)
            kl = np.round(vae.kl_per_component_[:8], 2).tolist()
            print(
                f"{name:14s} {k!s:>12s} {seed:4d} {vae.n_latent_:9d} "
                f"{vae.n_components_:4d} {vae.n_active_components_:6d} "
                f"{vae.n_iter_:6d} {seconds:6.1f} "
                f"{elbo:8.2f}  {kl}",
                flush=True,
            )


if __name__ == "__main__":
    main()
