"""Completions of masked-table rows by importance-weighted latent draws.

The machinery of :meth:`VAEImputer.transform` and
:meth:`VAEImputer.sample_imputations` (MIWAE; Mattei and Frellsen, 2019),
shared with :meth:`VAETransformer.sample`'s ``given``: for each row, k
latents from q(z | x_observed) weighted by how well they explain the
observed entries; the missing entries are their self-normalised average, or
a draw at one latent picked by sampling importance resampling.
"""

import torch

from ._objectives import importance_draws
from ._utils import as_tensor, row_normal_noise, to_numpy

__all__ = ["complete_rows"]

#: at most this many activations per layer in one pass of imputation draws
_IMPUTE_VALUES = 2**20


def complete_rows(vae, encoded, k, generator=None, data_noise=None, m=1):
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
