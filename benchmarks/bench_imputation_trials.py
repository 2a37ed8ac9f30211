"""Imputation RMSE of VAE variants against IterativeImputer and KNNImputer.

The protocol of ``bench_tabular.py``'s imputation part (standardized
``diabetes``, ``breast_cancer`` and ``wine``, 20% of the entries hidden
completely at random, RMSE over the hidden entries), medians over the seeds
given (``--seed``, several allowed). Every
variant trains ``VAETransformer(8, hidden_layer_sizes=(128, 128),
batch_size=64, max_iter=300, missing="mask")`` with the changes named, and
imputes through ``VAEImputer``'s code:

* ``elbo b1`` / ``elbo b0.5``: the ELBO with beta 1 / 0.5, the posterior mean
  decoded (``n_importance=1``): the imputer's defaults before / after the
  first change of 2026-11-25;
* ``b0.5 z16``, ``b0.5 256x2``: a 16-d latent, wider layers;
* ``b0.5 mask20``: in training, 20% more of the observed entries are hidden
  from the encoder (still scored by the likelihood);
* ``b0.5 early``: early stopping on 10% of the rows (patience 20, up to 1,000
  epochs);
* ``b0.5 MAP``: each row's latent point refined to the posterior mode (200
  Adam steps from the encoder's mean);
* ``b0.5 gibbs``: 10 rounds of pseudo-Gibbs (impute, encode as complete,
  decode);
* ``b0.5 x5``: the mean of 5 models (seeds s..s+4);
* ``b1 iw``: the beta-1 ELBO model, importance-weighted imputation (100 draws);
* ``miwae10 b1`` / ``miwae10 b0.5``: trained on the importance-weighted bound
  with 10 draws, importance-weighted imputation (100 draws); the second was
  ``VAEImputer``'s default from the first to the third change of 2026-11-25;
* ``full ...``: ``covariance="full"`` (a learned covariance matrix for the
  numeric columns, the missing entries regressed on the observed ones given
  z), with MIWAE training (10 draws) and importance-weighted imputation:
  ``full b0.5`` with the previous defaults otherwise, ``full b1`` at beta 1,
  ``full b1 lr3e-3`` also at Adam step 3e-3, ``full b1 lr3e-3 k1000`` also
  with 1,000 imputation draws (``VAEImputer``'s defaults since the third
  change of 2026-11-25), ``full b1 elbo`` the same as ``full b1 lr3e-3``
  trained on the ELBO; ``diag b1 lr3e-3`` is ``full b1 lr3e-3`` with the
  diagonal covariance, to tell the covariance's share from beta's and the
  step's.

Run from the repository root::

    python benchmarks/bench_imputation_trials.py                  # seed 0
    python benchmarks/bench_imputation_trials.py --seed 1 --hidden 0.4 \\
        --only "elbo b1" "elbo b0.5"
    python benchmarks/bench_imputation_trials.py --seed 0 1 2 \\
        --only "miwae10 b0.5" "full b0.5" "full b1" "full b1 lr3e-3" \\
        "full b1 elbo" "diag b1 lr3e-3"
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer

import skvae._objectives
import skvae._training
from skvae import VAEImputer, VAETransformer

BASE = dict(
    n_components=8,
    hidden_layer_sizes=(128, 128),
    batch_size=64,
    max_iter=300,
    missing="mask",
    numeric_scaling="standard",  # as measured (the default then)
    device="cpu",
)


def imputer(vae, n_importance):
    """A VAEImputer around an already fitted model."""
    out = VAEImputer(n_importance=n_importance)
    out.vae_, out.n_features_in_, out.n_iter_ = vae, vae.n_features_in_, vae.n_iter_
    return out


def fit(X, seed, **changes):
    return VAETransformer(**{**BASE, **changes}, random_state=seed).fit(X)


def with_extra_masking(fraction):
    """Hide ``fraction`` more observed entries from the encoder in training."""
    original = skvae._training.elbo_terms

    def masked(module, likelihood, x, *, generator=None, **kwargs):
        if not module.training:
            return original(module, likelihood, x, generator=generator, **kwargs)
        d = x.shape[1] // 2  # numeric tables: data columns, then indicators
        keep = (torch.rand(x.shape[0], d, generator=generator) >= fraction).to(x)
        seen = torch.cat([x[:, :d] * keep, x[:, d:] * keep], 1)
        loc, log_scale = module.encode(seen)
        eps = torch.randn(loc.shape, generator=generator, dtype=loc.dtype)
        params = module.decode(module.reparameterize(loc, log_scale, eps))
        recon = -likelihood.log_prob(params, x)
        return recon, skvae._objectives.kl_to_standard_normal(loc, log_scale)

    return original, masked


def map_impute(vae, X_missing, steps=200, lr=0.05):
    encoded = torch.from_numpy(vae._check_X(X_missing, reset=False))
    module = vae._inference_module(torch.float64)
    with torch.no_grad():
        start = module.encode(encoded)[0]
    z = start.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    for _ in range(steps):
        log_joint = vae.likelihood_.log_prob(module.decode(z), encoded)
        loss = -(log_joint - 0.5 * z.square().sum(-1)).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        mean = vae.likelihood_.mean(module.decode(z)).numpy()
    estimate = vae.tabular_.inverse_transform(mean)
    return np.where(np.isnan(X_missing), estimate, X_missing)


def gibbs_impute(vae, X_missing, rounds=10):
    current = imputer(vae, 1).transform(X_missing)
    for _ in range(rounds):
        decoded = vae.inverse_transform(vae.transform(current))
        current = np.where(np.isnan(X_missing), decoded, X_missing)
    return current


def variants(X_missing, seed):
    """name -> a function returning the completed matrix."""

    def masked_training():
        original, masked = with_extra_masking(0.2)
        skvae._training.elbo_terms = masked
        try:
            vae = fit(X_missing, seed, beta=0.5)
        finally:
            skvae._training.elbo_terms = original
        return imputer(vae, 1).transform(X_missing)

    def miwae(draws=100, **changes):
        def run():
            vae = fit(X_missing, seed, **{"n_importance_train": 10, **changes})
            return imputer(vae, draws).transform(X_missing)

        return run

    def ensemble():
        fills = [
            imputer(fit(X_missing, seed + i, beta=0.5), 1).transform(X_missing)
            for i in range(5)
        ]
        return np.mean(fills, axis=0)

    return {
        "elbo b1": lambda: imputer(fit(X_missing, seed), 1).transform(X_missing),
        "elbo b0.5": lambda: imputer(fit(X_missing, seed, beta=0.5), 1).transform(
            X_missing
        ),
        "b0.5 z16": lambda: imputer(
            fit(X_missing, seed, beta=0.5, n_components=16), 1
        ).transform(X_missing),
        "b0.5 256x2": lambda: imputer(
            fit(X_missing, seed, beta=0.5, hidden_layer_sizes=(256, 256)), 1
        ).transform(X_missing),
        "b0.5 mask20": masked_training,
        "b0.5 early": lambda: imputer(
            fit(
                X_missing,
                seed,
                beta=0.5,
                early_stopping=True,
                n_iter_no_change=20,
                max_iter=1000,
            ),
            1,
        ).transform(X_missing),
        "b0.5 MAP": lambda: map_impute(fit(X_missing, seed, beta=0.5), X_missing),
        "b0.5 gibbs": lambda: gibbs_impute(fit(X_missing, seed, beta=0.5), X_missing),
        "b0.5 x5": ensemble,
        "b1 iw": lambda: imputer(fit(X_missing, seed), 100).transform(X_missing),
        "miwae10 b1": lambda: imputer(
            fit(X_missing, seed, n_importance_train=10), 100
        ).transform(X_missing),
        "miwae10 b0.5": lambda: imputer(
            fit(X_missing, seed, beta=0.5, n_importance_train=10), 100
        ).transform(X_missing),
        "full b0.5": miwae(covariance="full", beta=0.5),
        "full b1": miwae(covariance="full", beta=1.0),
        "full b1 lr3e-3": miwae(covariance="full", beta=1.0, learning_rate_init=3e-3),
        "full b1 lr3e-3 k1000": miwae(
            covariance="full", beta=1.0, learning_rate_init=3e-3, draws=1000
        ),
        "full b1 elbo": miwae(
            covariance="full", beta=1.0, learning_rate_init=3e-3, n_importance_train=1
        ),
        "diag b1 lr3e-3": miwae(beta=1.0, learning_rate_init=3e-3),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, nargs="+", default=[0])
    parser.add_argument("--hidden", type=float, default=0.2, help="share hidden")
    parser.add_argument("--only", nargs="+", help="names of the variants to run")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    tables = {
        "diabetes": load_diabetes,
        "breast_cancer": load_breast_cancer,
        "wine": load_wine,
    }
    results, baselines = {}, {}  # [name][table] -> list over seeds
    for seed in args.seed:
        for name, loader in tables.items():
            X = loader().data
            X = (X - X.mean(0)) / X.std(0)
            hidden = np.random.RandomState(seed).rand(*X.shape) < args.hidden
            X_missing = np.where(hidden, np.nan, X)

            def rmse(filled, X=X, hidden=hidden):
                return float(np.sqrt(np.mean((filled - X)[hidden] ** 2)))

            iterative = IterativeImputer(random_state=seed, max_iter=20)
            baselines.setdefault("Iterative", {}).setdefault(name, []).append(
                (rmse(iterative.fit_transform(X_missing)), 0.0)
            )
            baselines.setdefault("KNN", {}).setdefault(name, []).append(
                (rmse(KNNImputer().fit_transform(X_missing)), 0.0)
            )
            for variant, run in variants(X_missing, seed).items():
                if args.only and variant not in args.only:
                    continue
                start = time.perf_counter()
                score = rmse(run())
                cell = (score, time.perf_counter() - start)
                results.setdefault(variant, {}).setdefault(name, []).append(cell)
                print(seed, name, variant, cell, flush=True)
    seeds = ", ".join(map(str, args.seed))
    print(f"\nseeds {seeds}, {args.hidden:.0%} hidden; median RMSE (median seconds)")
    width = max(20, 6 * len(args.seed) + 2)
    print(f"{'variant':22}" + "".join(f"{name:>{width}}" for name in tables))
    for variant, row in {**baselines, **results}.items():
        cells = ""
        for name in tables:
            score, seconds = np.median(np.array(row[name]), axis=0)
            cells += f"{f'{score:.3f} ({seconds:.1f} s)':>{width}}"
        print(f"{variant:22}{cells}")
        if len(args.seed) > 1:
            per_seed = "".join(
                f"{' '.join(f'{c[0]:.3f}' for c in row[name]):>{width}}"
                for name in tables
            )
            print(f"{'  per seed':22}{per_seed}")


if __name__ == "__main__":
    main()
