"""``n_components="auto"``: the latent width fit builds and the columns it keeps.

With ``"auto"``, ``fit`` builds ``min(n_features_in_, AUTO_MAX_COMPONENTS)``
latent dimensions (``n_latent_``), orders them by their mean KL divergence
from the prior and keeps the leading ones that carry information
(``n_components_``): ``transform`` returns those columns, and
``inverse_transform`` takes that many and fills the others with 0, the prior
mean. The module keeps its full width rather than being sliced: ``sample``,
``score`` and ``score_samples`` use the whole model as trained (a dropped
dimension is close to, not exactly, the prior), ``partial_fit`` and
``warm_start`` continue the same network and optimizer, and the file format
rebuilds the module from the stored width. With an integer, both counts are
that integer. Plain NumPy and torch, no scikit-learn: the estimators and
their file-format declarations call these functions.
"""

import numpy as np
import torch

from ._objectives import kl_per_dimension
from ._parallel import data_parallel_world, mean_across_processes

__all__ = [
    "ACTIVE_KL",
    "AUTO_MAX_COMPONENTS",
    "latent_width",
    "kept_components",
    "order_components",
    "evenly_spaced_rows",
    "encoder_means",
    "loc_and_scale",
    "keep_columns",
    "check_latents",
    "pad_latents",
    "derive_width",
    "derive_kept",
]

#: latent dimensions whose mean KL exceeds this (nats) count as active
ACTIVE_KL = 0.01
#: the most latent dimensions ``"auto"`` fits. On digits / 16 (75/25 split,
#: default parameters, seeds 0-2), 16 dimensions kept 4 active with a
#: held-out ELBO of 66.0-66.7 nats, while 32 collapsed every dimension to the
#: prior (ELBO 43.0-44.5) in all three fits
#: (``benchmarks/bench_auto_components.py --widths 16 32``).
AUTO_MAX_COMPONENTS = 16
#: rows of the training data the KL per dimension is estimated on
_KL_ROWS = 10_000


def latent_width(n_components, n_features):
    """Latent dimensions ``fit`` builds: ``n_components`` itself, or for
    ``"auto"`` one per column of the data up to :data:`AUTO_MAX_COMPONENTS`."""
    if isinstance(n_components, str):  # "auto", the only string allowed
        return int(min(n_features, AUTO_MAX_COMPONENTS))
    return int(n_components)


def kept_components(kl):
    """The leading columns ``"auto"`` keeps: the fewest holding every active
    dimension of ``kl`` (the mean KL per latent dimension, in the module's
    order), at least 1. Once ordered by KL, as the MLP and convolutional
    networks are, these are the active dimensions themselves; a user module
    that cannot be permuted keeps its order, and the columns up to its last
    active one."""
    active = np.flatnonzero(np.asarray(kl) > ACTIVE_KL)
    return int(active[-1]) + 1 if active.size else 1


def order_components(estimator, X):
    """Order the fitted latent dimensions by their mean KL on X, largest first.

    The mean is taken over at most 10,000 evenly spaced rows of X; a user
    module whose latent layers cannot be permuted keeps its order. The prior
    N(0, I) is invariant under permutations of the latent axes, so permuting
    the encoder's output rows and the decoder's input columns (and Adam's
    moment estimates with them) changes nothing but the order of the columns
    of ``transform``; continued training behaves as it would have without
    the permutation. Sets ``kl_per_component_`` and ``n_active_components_``,
    and returns the number of leading columns :func:`kept_components` keeps.
    """
    # An evenly spaced subset estimates the means well enough to order the
    # dimensions, and keeps this pass a small share of a short fit's time.
    kl = estimator.map_batches(kl_per_dimension, evenly_spaced_rows(X))
    if data_parallel_world()[1] > 1:  # every rank must reorder alike
        kl = mean_across_processes(
            kl.sum(axis=0, dtype=np.float64), len(kl), estimator.device_
        )
    else:
        kl = kl.mean(axis=0, dtype=np.float64)
    module = estimator.module_
    order = np.argsort(-kl, kind="stable")
    order = order if module.can_permute else np.arange(len(kl))
    module.permute_components(torch.from_numpy(order), estimator.optimizer_)
    estimator.kl_per_component_ = kl[order]
    estimator.n_active_components_ = int(np.sum(kl > ACTIVE_KL))
    return kept_components(estimator.kl_per_component_)


def evenly_spaced_rows(X, most=_KL_ROWS):
    """At most ``most`` evenly spaced rows of the fitted data X, in float32:
    what the passes after training (the KL per dimension, the latent
    mixture's draws) read."""
    step = -(-X.shape[0] // most)  # ceil
    return np.asarray(X[::step], np.float32)


def encoder_means(n_kept):
    """For ``map_batches``: the means of q(z | x) in the first ``n_kept``
    latent dimensions (``transform``)."""

    def means(module, x):
        return module.encode(x)[0][:, :n_kept]

    return means


def loc_and_scale(module, x):
    """For ``map_batches``: the means and standard deviations of q(z | x) in
    every latent dimension, side by side."""
    loc, log_scale = module.encode(x)
    return torch.cat([loc, torch.exp(log_scale)], dim=-1)


def keep_columns(Z, n_kept):
    """The first ``n_kept`` columns of the latent rows Z, contiguous."""
    return Z if Z.shape[1] == n_kept else np.ascontiguousarray(Z[:, :n_kept])


def pad_latents(Z, width):
    """Latent rows Z of the kept columns, widened to the module's ``width``
    with zeros (the prior mean) in the dropped dimensions."""
    if Z.shape[1] == width:
        return Z
    out = np.zeros((Z.shape[0], width), dtype=Z.dtype)
    out[:, : Z.shape[1]] = Z
    return out


def check_latents(estimator, Z, what="inverse_transform"):
    """The latent rows Z (a checked float matrix) as the fitted module's input:
    a ValueError unless they have the width ``fit`` kept (``n_components_``,
    whatever ``set_params`` did since), the dropped dimensions filled with 0."""
    if Z.shape[1] != estimator.n_components_:
        raise ValueError(
            f"X has {Z.shape[1]} features, but {what} expects "
            f"n_components={estimator.n_components_} latent features (as fitted)."
        )
    return pad_latents(np.ascontiguousarray(Z), estimator.module_.n_components)


# ------------------------------------------------ the file format's derivations


def derive_width(context):
    """``n_latent_`` as ``fit`` gives it from the parameters: ``n_components``
    when an integer; None for ``"auto"``, whose width a file must hold."""
    n_components = context["n_components"]
    return None if isinstance(n_components, str) else int(n_components)


def derive_kept(context):
    """``n_components_`` as ``fit`` gives it: ``n_components`` when an
    integer; for ``"auto"``, from ``kl_per_component_`` (None without it)."""
    n_components = context["n_components"]
    if not isinstance(n_components, str):
        return int(n_components)
    kl = context.get("kl_per_component_")
    return None if kl is None else kept_components(kl)
