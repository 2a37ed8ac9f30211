"""The importance-weighted bound of rows whose noise derives from their values."""

from ._objectives import importance_weighted_bound
from ._utils import as_tensor, row_normal_noise, to_numpy

__all__ = ["iwae_rows"]


def iwae_rows(module, likelihood, x, k, max_values):
    """Importance-weighted bound of the rows of ``x`` with k draws each, the
    noise of each row derived from its values (see ``row_normal_noise``).

    Blocks of rows x draws are decoded at once, no more than ``max_values``
    activations per layer; a running log-sum-exp accumulates the blocks.
    """
    d = module.n_components
    x_host = to_numpy(x)

    def noise(start, stop, j, c):  # draws j .. j + c - 1 of each row's stream
        eps = row_normal_noise(x_host[start:stop], (c, d), offset=j * d)
        return as_tensor(eps, x.device, x.dtype)

    return importance_weighted_bound(module, likelihood, x, k, noise, max_values)
