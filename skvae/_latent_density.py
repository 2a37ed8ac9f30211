"""``latent_density``: where ``sample`` draws new latents from.

A VAE is trained with the prior N(0, I), but its decoder learns from the
latents of the training rows: draws from q(z | x), whose average over the
rows (the aggregate posterior) need not fill the prior. Prior draws that fall
where no training row encodes decode to rows unlike the data. A density
fitted to the aggregate posterior after training (ex-post density
estimation, Ghosh et al., 2020; :mod:`skvae._latent_mixture` fits it) keeps
``sample`` where the decoder was trained, without touching the model or its
ELBO.

``"prior"`` draws from N(0, I); ``"mixture"`` from a Gaussian mixture of
:data:`MIXTURE_COMPONENTS` full-covariance components in the leading
latent columns that hold every active dimension, the others (collapsed to
the prior) from N(0, I). A fitted model keeps the mixture's weights, means
and Cholesky factors, never rows or their codes. Plain NumPy and torch: the
estimator and the file format's checks call these functions.
"""

import torch

from ._components import kept_components

__all__ = [
    "LATENT_DENSITIES",
    "MIXTURE_COMPONENTS",
    "MIXTURE_KEYS",
    "resolve_latent_density",
    "mixture_expected",
    "mixture_width",
    "draw_latents",
]

#: the values of ``latent_density``
LATENT_DENSITIES = ("auto", "prior", "mixture")
#: components of the latent mixture (Ghosh et al.'s choice; one component
#: kept only part of the gain: ``benchmarks/bench_latent_density.py``)
MIXTURE_COMPONENTS = 10
#: the arrays of a fitted mixture (``latent_mixture_``)
MIXTURE_KEYS = ("weights", "means", "scale_tril")


def resolve_latent_density(latent_density, table):
    """``"prior"`` or ``"mixture"``: ``"auto"`` is ``"mixture"`` for a model
    fitted on a DataFrame (``table``), ``"prior"`` otherwise."""
    if latent_density == "auto":
        return "mixture" if table else "prior"
    return latent_density


def mixture_expected(context):
    """Whether ``fit`` sets a mixture, from the parameters and the fitted
    ``tabular_`` in ``context`` (for the file format)."""
    table = bool(getattr(context.get("tabular_"), "frame_", False))
    return resolve_latent_density(context["latent_density"], table) == "mixture"


def mixture_width(context):
    """The latent columns the mixture covers, from ``kl_per_component_``."""
    return kept_components(context["kl_per_component_"])


def draw_latents(mixture, n_samples, width, generator):
    """``n_samples`` latent rows of ``width`` columns, a float64 ndarray: from
    N(0, I) without a mixture (None), else from the mixture in its leading
    columns and N(0, I) in the others."""
    z = torch.randn((n_samples, width), generator=generator, dtype=torch.float64)
    if mixture is None:
        return z.numpy()
    weights = torch.from_numpy(mixture["weights"])
    component = torch.multinomial(
        weights, n_samples, replacement=True, generator=generator
    )
    means = torch.from_numpy(mixture["means"])[component]
    scale_tril = torch.from_numpy(mixture["scale_tril"])[component]
    k = means.shape[1]
    z[:, :k] = means + (scale_tril @ z[:, :k, None])[..., 0]
    return z.numpy()
