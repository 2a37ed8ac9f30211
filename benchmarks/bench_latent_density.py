"""Quality against privacy of ``latent_density``: the prior or the mixture.

On the tables of ``bench_synthetic.py`` (``--tables``), each split 60/40
(stratified on ``label``, ``random_state=seed``, as
``examples/plot_synthetic_quality.py`` splits wine): ``VAETransformer``
with every default but ``latent_density`` is fitted on the 60% and scored
by :func:`skvae.quality_report` against them with the 40% as the holdout:
SDMetrics' quality and ``closer_to_training``, the share of synthetic rows
nearer a training row than a held-out one (rows that know nothing of the
training rows give about the training share, 0.6). Variants: ``prior``,
and ``mixture`` with each of ``--components`` mixture components (the
default is 10). Per seed, and the mean change from the prior over the
seeds; ``mixture s``: the seconds of fitting the mixture alone, timed again
on the fitted model (``fit_latent_mixture``, what ``fit`` runs after
training).

Needs sdmetrics (the ``report`` extra) and the tables of
``bench_synthetic.py`` (statsmodels, plotly), which need pandas<3; in the
venv of ``bench_synthetic.py``::

    python benchmarks/bench_latent_density.py                       # ~8 minutes
    python benchmarks/bench_latent_density.py --components 10 3 1 --tables wine tips
"""

import argparse
import time
import warnings

import numpy as np
from bench_synthetic import all_tables
from sklearn.model_selection import train_test_split

import skvae._latent_mixture
from skvae import VAETransformer, quality_report
from skvae._latent_mixture import fit_latent_mixture


def scores(train, holdout, seed, components):
    """quality, closer_to_training and the mixture's fit seconds (None for
    the prior) of one fit; ``components`` None: the prior."""
    saved = skvae._latent_mixture.MIXTURE_COMPONENTS
    if components is not None:
        skvae._latent_mixture.MIXTURE_COMPONENTS = components
    try:
        density = "prior" if components is None else "mixture"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vae = VAETransformer(latent_density=density, random_state=seed)
            vae.fit(train)
            report = quality_report(vae, train, holdout=holdout, random_state=seed)
            seconds = None
            if components is not None:
                start = time.perf_counter()
                fit_latent_mixture(vae, vae._check_X(train, reset=False), seed)
                seconds = time.perf_counter() - start
    finally:
        skvae._latent_mixture.MIXTURE_COMPONENTS = saved
    return report.score, report.closer_to_training, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tables", nargs="+", default=["wine", "tips", "breast_cancer", "anes96"]
    )
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--components", type=int, nargs="+", default=[10])
    args = parser.parse_args()
    tables = all_tables()
    variants = {"prior": None, **{f"mixture {m}": m for m in args.components}}
    for name in args.tables:
        table = tables[name]
        runs = {v: [] for v in variants}
        for seed in range(args.seeds):
            train, holdout = train_test_split(
                table, test_size=0.4, stratify=table["label"], random_state=seed
            )
            for variant, m in variants.items():
                runs[variant].append(scores(train, holdout, seed, m))
            print(
                name,
                seed,
                " | ".join(
                    f"{v}: quality {r[-1][0]:.3f} closer {r[-1][1]:.3f}"
                    + ("" if r[-1][2] is None else f" mixture {r[-1][2]:.2f} s")
                    for v, r in runs.items()
                ),
                flush=True,
            )
        base = np.array([r[:2] for r in runs["prior"]])
        for variant, r in runs.items():
            change = (np.array([x[:2] for x in r]) - base).mean(axis=0)
            print(
                f"  {name} {variant}: mean change from the prior over "
                f"{args.seeds} seeds: quality {change[0]:+.3f}, "
                f"closer_to_training {change[1]:+.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
