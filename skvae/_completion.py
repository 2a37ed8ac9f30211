"""Completions of masked-table rows by importance-weighted latent draws.

The machinery of :meth:`VAEImputer.transform` and
:meth:`VAEImputer.sample_imputations` (MIWAE; Mattei and Frellsen, 2019),
shared with :meth:`VAETransformer.sample`'s ``given``: for each row, k
latents from q(z | x_observed) weighted by how well they explain the
observed entries; the missing entries are their self-normalised average, or
a draw at one latent picked by sampling importance resampling.
"""

import math

import torch

from ._objectives import _decoded_draws, importance_draws
from ._utils import as_tensor, row_normal_noise, to_numpy

__all__ = ["complete_rows"]

#: at most this many activations per layer in one pass of imputation draws
_IMPUTE_VALUES = 2**20


def _mixture_draws(module, likelihood, rows, eps, prior_mix):
    """:func:`importance_draws` with the proposal mixed with the prior.

    The defensive mixture q_mix = (1 - a) q(z | x) + a N(0, I) (Hesterberg,
    1995), drawn stratified: the last ``round(a * k)`` draws of each row are
    ``eps`` itself, from the prior, the others the encoder's. Their weights
    are p(x | z) p(z) / q_mix(z), exact for either kind of draw, so a poor
    q(z | x) (rows unlike any seen in fit) cannot leave the prior's mass
    unexplored.
    """
    x, c = module.split(rows)
    loc, log_scale = module.encode(x)
    k = eps.shape[1]
    n_prior = min(k - 1, max(1, round(prior_mix * k)))
    from_prior = torch.arange(k, device=eps.device) >= k - n_prior
    # a prior draw z = eps, written as the encoder's standardised noise
    centred = (eps - loc.unsqueeze(1)) * torch.exp(-log_scale).unsqueeze(1)
    eps = torch.where(from_prior.unsqueeze(-1), centred, eps)
    params, log_px, log_ratio = _decoded_draws(
        module, likelihood, x, loc, log_scale, eps, c
    )
    # log p(z) - log q_mix(z) = -log((1 - a) exp(-log_ratio) + a)
    a = n_prior / k
    log_mix = torch.logaddexp(
        math.log1p(-a) - log_ratio, torch.full_like(log_ratio, math.log(a))
    )
    return params, log_px - log_mix


def complete_rows(vae, encoded, k, generator=None, data_noise=None, m=1, prior_mix=0.0):
    """Estimates of the data columns of the masked rows ``encoded``.

    Parameters
    ----------
    vae : VAETransformer
        Fitted with ``missing="mask"``.
    encoded : ndarray of shape (n_rows, 2 * n_features_in_ or wider)
        Rows as ``vae.prepare_input`` encodes them: data columns, then one
        observation indicator per column.
    k : int
        Importance draws per row.
    generator : torch.Generator or None
        None: the expectation given the observed entries (deterministic);
        otherwise ``m`` completions per row by sampling importance
        resampling (one unweighted draw each when k is 1).
    data_noise : torch.Generator or None
        With ``generator``: draw the missing entries from p(x | z) (their
        conditional given the observed ones) rather than taking their mean.
    m : int, default=1
        Completions per row.
    prior_mix : float, default=0.0
        With ``generator`` and ``k > 1``: the share of the k draws taken
        from the prior N(0, I) instead of q(z | x_observed), weighted for
        the mixture of the two (see :func:`_mixture_draws`). 0 keeps the
        encoder's proposal alone (the imputer's).

    Returns
    -------
    filled : ndarray of shape (n_rows, m, n_data_columns)
        In the encoded (block) column order; observed entries are estimates
        too, for the caller to replace.
    """
    n_features = encoded.shape[1] - vae.n_features_in_
    likelihood, d = vae.likelihood_, vae.module_.n_components

    def fill(module, x):
        widths = [x.shape[1], likelihood.n_params(vae.n_features_in_)]
        widths += [
            layer.out_features
            for layer in module.modules()
            if hasattr(layer, "out_features")
        ]
        n_rows = max(1, _IMPUTE_VALUES // (max(k, m) * max(widths)))
        host = to_numpy(x)
        out = []
        for r in range(0, x.shape[0], n_rows):
            rows = x[r : r + n_rows]
            data, seen = rows[:, :n_features], rows[:, n_features:]
            if k == 1 and generator is None:  # the posterior mean
                params = module.decode(module.encode(rows)[0])
                out.append(likelihood.conditional_mean(params, data, seen))
                continue
            if generator is None:  # deterministic, whatever the batching
                eps = row_normal_noise(host[r : r + n_rows], (k, d))
            else:  # with one draw, one per completion, unweighted
                shape = (len(rows), m if k == 1 else k, d)
                eps = torch.randn(shape, generator=generator).numpy()
            eps = as_tensor(eps, x.device, x.dtype)
            if generator is not None and k > 1 and prior_mix > 0:
                params, log_w = _mixture_draws(module, likelihood, rows, eps, prior_mix)
            else:
                params, log_w = importance_draws(module, likelihood, rows, eps)
            data, seen = data.unsqueeze(1), seen.unsqueeze(1)
            if generator is None:  # E[x_missing | x_observed], self-normalised
                weights = torch.softmax(log_w, dim=1)
                out.append(
                    likelihood.weighted_conditional_mean(params, data, seen, weights)
                )
                continue
            if k > 1:  # sampling importance resampling from the k draws
                weights = torch.softmax(log_w, dim=1).cpu()
                pick = torch.multinomial(
                    weights, m, replacement=True, generator=generator
                ).to(x.device)
                rows_index = torch.arange(len(rows), device=x.device)
                params = params[rows_index.unsqueeze(1), pick]
            if data_noise is None:
                out.append(likelihood.conditional_mean(params, data, seen))
            else:
                out.append(
                    likelihood.conditional_sample(params, data, seen, data_noise)
                )
        return torch.cat(out)

    values = vae.map_batches(fill, encoded)
    return values.reshape(len(encoded), m, n_features)
