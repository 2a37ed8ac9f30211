"""Data-aware initialisation: what the data determine before training starts.

Before the first epoch of a fresh fit, one pass over the training rows
gathers each data column's count, sum and sum of squares (over its observed
entries only, for masked tables). Each likelihood turns these moments into
initial values of its decoder outputs (:meth:`Likelihood.initial_outputs`):
the output bias of the decoder's last layer, which every row starts near,
and the parameters shared by all rows. A Gaussian then starts at each
column's mean and standard deviation, a Bernoulli at the logit of each
column's mean, a categorical variable at its log-frequencies; training no
longer spends its first epochs finding the marginal distribution of each
column. Under data parallelism the moments are summed over every process's
shard, so all processes start from the same weights.

Plain PyTorch: no NumPy, no scikit-learn.
"""

from dataclasses import dataclass

import torch
from torch import nn

from ._parallel import data_parallel_world

__all__ = ["Moments", "data_moments", "initialize_from_data"]

#: rows per batch of the statistics pass (memory only; the sums are the same)
_BATCH_ROWS = 4096


@dataclass
class Moments:
    """Per-column sufficient statistics of the training rows, in float64.

    Attributes
    ----------
    count, total, sum_sq : torch.Tensor of shape (n_columns,)
        Number of observed entries, their sum and their sum of squares.
    """

    count: torch.Tensor
    total: torch.Tensor
    sum_sq: torch.Tensor

    def __getitem__(self, index):
        """The moments of some columns (a slice or an index)."""
        return Moments(self.count[index], self.total[index], self.sum_sq[index])

    @property
    def mean(self):
        """Mean of each column's observed entries; NaN where none is observed."""
        return torch.where(
            self.count > 0, self.total / self.count.clamp_min(1), torch.nan
        )

    @property
    def std(self):
        """Standard deviation (the maximum-likelihood one, over ``count``)."""
        n = self.count.clamp_min(1)
        var = (self.sum_sq / n - (self.total / n).square()).clamp_min(0)
        return torch.where(self.count > 0, var.sqrt(), torch.nan)


def data_moments(rows, likelihood, n_conditions=0):
    """One pass over ``rows``: the :class:`Moments` of the data columns.

    ``likelihood.observed(batch)`` separates each batch's data columns from
    its observation indicators (a masked table's rows carry both); only
    observed entries count. Inside a ``torch.distributed`` group of several
    processes the sums are all-reduced, so every process gets the moments of
    all the shards.

    Parameters
    ----------
    rows : skvae._training.Rows
        The training rows, streamed in batches (memory maps work).
    likelihood : Likelihood
    n_conditions : int, default=0
        Condition columns at the end of each row, left out.

    Returns
    -------
    Moments
    """
    width = rows.X.shape[1] - n_conditions  # the data columns, then conditions
    width = likelihood.observed(rows.X[:0, :width].to(torch.float64))[0].shape[-1]
    sums = torch.zeros(3, width, dtype=torch.float64, device=rows.device)
    for batch in rows.batches(_BATCH_ROWS):
        batch = batch[:, : batch.shape[1] - n_conditions]
        x, observed = likelihood.observed(batch.to(torch.float64))
        if observed is None:
            sums[0] += x.shape[0]
        else:
            observed = (observed > 0.5).to(x.dtype)
            x = torch.where(observed > 0, x, 0.0)
            sums[0] += observed.sum(0)
        sums[1] += x.sum(0)
        sums[2] += x.square().sum(0)
    if data_parallel_world()[1] > 1:
        torch.distributed.all_reduce(sums)
    sums = sums.cpu()
    return Moments(sums[0], sums[1], sums[2])


def _output_bias(module):
    """The bias added to every row's decoder outputs, or None if there is none.

    A module may name it with an ``output_bias()`` method; otherwise it is
    the bias of the last linear layer of ``module.decoder``.
    """
    if callable(getattr(module, "output_bias", None)):
        return module.output_bias()
    layers = [m for m in getattr(module, "decoder", nn.Identity()).modules()]
    linear = [m for m in layers if isinstance(m, nn.Linear)]
    return linear[-1].bias if linear and layers[-1] is linear[-1] else None


@torch.no_grad()
def _assign(param, values):
    """Copy ``values`` into ``param`` where they are not NaN (NaN: no opinion)."""
    if param is None or values is None:
        return
    values = values.to(device=param.device, dtype=param.dtype)
    if values.shape != param.shape:
        return  # an architecture whose outputs are not one bias per output
    param.copy_(torch.where(torch.isnan(values), param, values))


def initialize_from_data(module, likelihood, rows):
    """Start ``module``'s outputs at the values the data determine.

    Computes the moments of ``rows`` once (:func:`data_moments`) and writes
    ``likelihood.initial_outputs(moments)`` into the decoder's output bias
    and the module's shared parameters; entries the likelihood leaves NaN
    (or a likelihood without an opinion, the base class's default) keep
    their random or zero initial values.

    Parameters
    ----------
    module : VAEModule
        Changed in place.
    likelihood : Likelihood
    rows : skvae._training.Rows
        The training rows (not the validation rows).

    Returns
    -------
    moments : Moments
    """
    moments = data_moments(rows, likelihood, getattr(module, "n_conditions", 0))
    bias, shared = likelihood.initial_outputs(moments)
    _assign(_output_bias(module), bias)
    _assign(getattr(module, "shared", None), shared)
    return moments
