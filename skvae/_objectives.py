"""The objectives of training and inference, in plain PyTorch.

One definition of each piece of maths that training and inference share:
the KL divergence from the prior N(0, I), the two terms of the ELBO, the
importance log-weights of latent draws, the importance-weighted bound of
Burda et al. (2016) and the KL warm-up schedule. Nothing here imports
scikit-learn or NumPy.
"""

import math

import torch

__all__ = [
    "kl_to_standard_normal",
    "kl_per_dimension",
    "kl_warmup_weight",
    "elbo_terms",
    "log_importance_weights",
    "importance_draws",
    "importance_weighted_terms",
    "importance_weighted_bound",
]


def kl_to_standard_normal(loc, log_scale):
    """KL(N(loc, exp(log_scale)^2) || N(0, I)) per row, summed over dimensions."""
    two_log_scale = 2 * log_scale
    terms = loc.square() + two_log_scale.exp() - two_log_scale
    return 0.5 * (terms.sum(-1) - loc.shape[-1])


def kl_per_dimension(module, x):
    """KL divergence of q(z | x) from N(0, 1) along each latent dimension, per row.

    ``x`` holds data columns only (the encoder never sees a condition).
    """
    loc, log_scale = module.encode(x)
    return kl_to_standard_normal(loc.unsqueeze(-1), log_scale.unsqueeze(-1))


def kl_warmup_weight(epoch, beta, kl_warmup):
    """KL weight of epoch ``epoch`` (0-based), rising to ``beta`` in ``kl_warmup``."""
    if kl_warmup <= 0:
        return beta
    return beta * min(1.0, (epoch + 1) / kl_warmup)


def elbo_terms(
    module,
    likelihood,
    x,
    *,
    eps=None,
    generator=None,
    variational=True,
    n_importance=1,
    kl_weight=1.0,
):
    """Reconstruction negative log-likelihood and KL term, one value per row.

    Parameters
    ----------
    module : VAEModule
    likelihood : Likelihood
    x : torch.Tensor of shape (n_rows, n_features)
    eps : torch.Tensor of shape (n_rows, n_components), optional
        Standard normal noise for the reparameterisation; drawn from
        ``generator`` when not given.
    generator : torch.Generator, optional
    variational : bool, default=True
        When False, decode the latent mean itself and return a zero KL term:
        the loss of a deterministic autoencoder with the same likelihood.
    n_importance : int, default=1
        With k > 1, the terms of the importance-weighted bound of Burda et
        al. (2016) over k draws per row (see :func:`importance_weighted_terms`)
        instead of the ELBO's.
    kl_weight : float, default=1.0
        The weight the caller gives the KL term; only the importance-weighted
        bound, where it acts inside the average over draws, needs it.

    Returns
    -------
    recon, kl : torch.Tensor of shape (n_rows,)
        ``-log p(x | z)`` at one draw ``z ~ q(z | x)``, and the analytic KL
        divergence of q(z | x) from the prior; the negative ELBO is their sum.

    Notes
    -----
    The rows of a conditional module carry their condition c in their last
    columns (:meth:`VAEModule.split`); the terms are then those of
    p(x | z, c), the encoder seeing x only. The same holds for every
    function here that takes rows ``x``, except :func:`kl_per_dimension`.
    """
    if variational and n_importance > 1:
        return importance_weighted_terms(
            module,
            likelihood,
            x,
            n_importance,
            kl_weight=kl_weight,
            generator=generator,
        )
    x, c = module.split(x)
    loc, log_scale = module.encode(x)
    if loc.dtype != x.dtype:  # under autocast; the loss stays in x's precision
        loc, log_scale = loc.to(x.dtype), log_scale.to(x.dtype)
    if not variational:
        recon = -likelihood.log_prob(module.decode(loc, c).to(x.dtype), x)
        return recon, torch.zeros_like(recon)
    if eps is None:
        eps = torch.randn(
            loc.shape, generator=generator, device=loc.device, dtype=loc.dtype
        )
    params = module.decode(module.reparameterize(loc, log_scale, eps), c)
    params = params if params.dtype == x.dtype else params.to(x.dtype)
    recon = -likelihood.log_prob(params, x)
    return recon, kl_to_standard_normal(loc, log_scale)


def _decoded_draws(module, likelihood, x, loc, log_scale, eps, c=None):
    """Decoder outputs, ``log p(x | z)`` and ``log p(z) - log q(z | x)`` at draws.

    Draw ``j`` of row ``i`` is ``z = loc_i + exp(log_scale_i) * eps[i, j]``,
    with ``loc`` and ``log_scale`` the encoding of ``x`` (data columns only)
    and ``c`` the rows' condition for a conditional module. The one place
    the terms of an importance log-weight are written.

    Returns
    -------
    params : torch.Tensor of shape (n_rows, n_draws, n_params)
        The decoder's outputs at each draw, in ``x``'s dtype.
    log_px, log_prior_ratio : torch.Tensor of shape (n_rows, n_draws)
    """
    z = module.reparameterize(loc.unsqueeze(1), log_scale.unsqueeze(1), eps)
    if c is not None:  # one condition per row, the same for all its draws
        c = c.unsqueeze(1).expand(-1, z.shape[1], -1).flatten(0, 1)
    params = module.decode(z.flatten(0, 1), c).unflatten(0, z.shape[:2])
    params = params if params.dtype == x.dtype else params.to(x.dtype)
    log_px = likelihood.log_prob(params, x.unsqueeze(1))
    # log N(z; 0, I) - log N(z; loc, scale^2) = (|eps|^2 - |z|^2) / 2 + sum
    # log_scale: the 2 pi terms cancel.
    log_ratio = 0.5 * (eps.square() - z.square()).sum(-1)
    return params, log_px, log_ratio + log_scale.sum(-1, keepdim=True)


def log_importance_weights(module, likelihood, x, eps):
    """Log importance weights ``log p(x, z) - log q(z | x)`` of latent draws.

    Averaging ``exp`` of these over k draws gives an unbiased estimate of
    p(x); the log of that average is the importance-weighted bound of Burda
    et al. (2016), which equals the ELBO in expectation for k = 1 and rises
    towards log p(x) as k grows.

    Parameters
    ----------
    module : VAEModule
    likelihood : Likelihood
    x : torch.Tensor of shape (n_rows, n_features)
    eps : torch.Tensor of shape (n_rows, n_draws, n_components)
        Standard normal noise; draw ``j`` of row ``i`` is
        ``z = loc_i + exp(log_scale_i) * eps[i, j]``.

    Returns
    -------
    log_w : torch.Tensor of shape (n_rows, n_draws)
    """
    return importance_draws(module, likelihood, x, eps)[1]


def importance_draws(module, likelihood, x, eps):
    """Decoder outputs at latent draws, with the draws' log importance weights.

    Parameters are as for :func:`log_importance_weights`.

    Returns
    -------
    params : torch.Tensor of shape (n_rows, n_draws, n_params)
        The decoder's raw outputs at each draw.
    log_w : torch.Tensor of shape (n_rows, n_draws)
        ``log p(x | z) + log p(z) - log q(z | x)`` of each draw.
    """
    x, c = module.split(x)
    loc, log_scale = module.encode(x)
    params, log_px, log_prior_ratio = _decoded_draws(
        module, likelihood, x, loc, log_scale, eps, c
    )
    return params, log_px + log_prior_ratio


def importance_weighted_terms(
    module, likelihood, x, k, *, kl_weight=1.0, generator=None
):
    """The importance-weighted bound over ``k`` draws per row, as two terms.

    The bound of Burda et al. (2016), with the prior and posterior terms
    weighted by ``kl_weight`` inside the average (1 gives the bound itself;
    less, as in a beta-VAE or a KL warm-up, loosens it)::

        bound = log (1/k) sum_j exp(log p(x | z_j) + w (log p(z_j) - log q(z_j | x)))

    It rises towards log p(x) as k grows (k = 1 is the ELBO), and training on
    it gives the model of the importance-weighted autoencoder. It is returned
    split like the ELBO so that ``recon + kl_weight * kl`` is the negative
    bound: ``kl`` is the KL divergence estimated over the draws with their
    normalised importance weights (no gradient flows through it) and
    ``recon`` is the rest.

    Returns
    -------
    recon, kl : torch.Tensor of shape (n_rows,)
    """
    x, c = module.split(x)
    loc, log_scale = module.encode(x)
    eps = torch.randn(
        (x.shape[0], k, loc.shape[-1]),
        generator=generator,
        device=loc.device,
        dtype=x.dtype,
    )
    loc, log_scale = loc.to(x.dtype), log_scale.to(x.dtype)
    _, log_px, log_prior_ratio = _decoded_draws(
        module, likelihood, x, loc, log_scale, eps, c
    )
    log_w = log_px + kl_weight * log_prior_ratio
    bound = torch.logsumexp(log_w, dim=1) - math.log(k)
    with torch.no_grad():
        kl = -(torch.softmax(log_w, dim=1) * log_prior_ratio).sum(1)
    return -bound - kl_weight * kl, kl


def importance_weighted_bound(module, likelihood, x, k, noise, max_values):
    """Importance-weighted bound of the rows of ``x`` with k draws each.

    Blocks of rows x draws are decoded at once, no more than ``max_values``
    activations per layer; a running log-sum-exp accumulates the blocks of
    draws, so memory stays bounded whatever k.

    Parameters
    ----------
    module : VAEModule
    likelihood : Likelihood
    x : torch.Tensor of shape (n_rows, n_features)
    k : int
    noise : callable
        ``noise(start, stop, j, c)`` returns the standard normal noise of
        draws ``j`` to ``j + c - 1`` of rows ``start`` to ``stop - 1``, a
        tensor of shape (stop - start, c, n_components) like ``x``.
    max_values : int

    Returns
    -------
    bound : torch.Tensor of shape (n_rows,)
    """
    linear = (m for m in module.modules() if isinstance(m, torch.nn.Linear))
    hidden = [m.out_features for m in linear]
    width = max(likelihood.n_params(x.shape[1]), x.shape[1], *hidden)
    per_pass = max(1, max_values // width)
    n_draws = min(k, per_pass)
    n_rows = max(1, per_pass // n_draws)
    bounds = []
    for r in range(0, x.shape[0], n_rows):
        rows = x[r : r + n_rows]
        total = torch.full((rows.shape[0],), -math.inf, dtype=x.dtype, device=x.device)
        for j in range(0, k, n_draws):
            c = min(n_draws, k - j)
            eps = noise(r, r + rows.shape[0], j, c)
            log_w = log_importance_weights(module, likelihood, rows, eps)
            total = torch.logaddexp(total, torch.logsumexp(log_w, dim=1))
        bounds.append(total - math.log(k))
    return torch.cat(bounds)

