"""Fitting ``latent_density="mixture"``: scikit-learn's ``GaussianMixture``
on draws from q(z | x) for the training rows (see
:mod:`skvae._latent_density` for why and how ``sample`` uses it)."""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from ._components import evenly_spaced_rows, kept_components, loc_and_scale
from ._latent_density import MIXTURE_COMPONENTS
from ._parallel import broadcast_from_first, data_parallel_world

__all__ = ["fit_latent_mixture"]

#: draws from q(z | x) the mixture is fitted to, at least: several per row of
#: a small table, one per row from this many rows on
_MIXTURE_POINTS = 2_000


def fit_latent_mixture(estimator, X, seed):
    """The latent mixture of a fitted VAE from its data X (as ``map_batches``
    takes it), seeded with the int ``seed``.

    Draws from q(z | x) for at most 10,000 evenly spaced rows of X, at least
    2,000 draws in all, in the first ``k = kept_components(kl_per_component_)``
    latent columns, fitted with ``GaussianMixture(covariance_type="full")``.
    Under data parallelism every process gets the first process's mixture.

    Returns
    -------
    mixture : dict
        ``weights`` (m,), ``means`` (m, k) and ``scale_tril`` (m, k, k), the
        lower Cholesky factors of the covariances; float64 arrays.
    """
    k = kept_components(estimator.kl_per_component_)
    out = estimator.map_batches(loc_and_scale, evenly_spaced_rows(X))
    out = out.astype(np.float64)
    d = estimator.module_.n_components
    loc, scale = out[:, :k], out[:, d : d + k]
    rng = np.random.RandomState(seed)
    per_row = -(-_MIXTURE_POINTS // len(loc))
    noise = rng.standard_normal((len(loc), per_row, k))
    points = (loc[:, None, :] + scale[:, None, :] * noise).reshape(-1, k)
    mixture = GaussianMixture(
        n_components=MIXTURE_COMPONENTS,  # (at least 2,000 points)
        covariance_type="full",
        random_state=rng,
    )
    with warnings.catch_warnings():
        # an EM not converged in its 100 iterations still gives a density;
        # its warning would read as the VAE's own
        warnings.simplefilter("ignore", ConvergenceWarning)
        mixture.fit(points)
    fitted = {
        "weights": np.asarray(mixture.weights_, np.float64),
        "means": np.asarray(mixture.means_, np.float64),
        "scale_tril": np.linalg.cholesky(mixture.covariances_).astype(np.float64),
    }
    if data_parallel_world()[1] > 1:  # every process samples alike
        fitted = broadcast_from_first(fitted, estimator.device_)
    return fitted
