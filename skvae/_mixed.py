"""Likelihoods for tables: a categorical variable and blocks of mixed columns.

Like :mod:`skvae._likelihoods`, this module imports nothing from
scikit-learn; :mod:`skvae._tabular` builds these objects from a table.
"""

from numbers import Integral

import torch
from torch import distributions as D
from torch.nn import functional as F

from ._likelihoods import P_MIN, Likelihood, builtin

__all__ = ["CategoricalLikelihood", "MixedLikelihood"]


@builtin
class CategoricalLikelihood(Likelihood):
    """One categorical variable, one-hot encoded over ``n_features`` columns.

    The decoder outputs one logit per category; p(x | z) is the softmax over
    them. ``log_prob`` is ``sum_k x_k log softmax(logits)_k``, so a row of
    zeros (a missing or unknown category) contributes 0.

    Examples
    --------
    >>> import torch
    >>> from skvae import CategoricalLikelihood
    >>> lik = CategoricalLikelihood()
    >>> lik.n_params(3)
    3
    >>> lik.mean(torch.zeros(2, 3))
    tensor([[0.3333, 0.3333, 0.3333],
            [0.3333, 0.3333, 0.3333]])
    """

    support = (0.0, 1.0)

    def n_params(self, n_features):
        return n_features

    def distribution(self, params):
        return D.OneHotCategorical(logits=params, validate_args=False)

    def log_prob(self, params, x):
        return (x * F.log_softmax(params, dim=-1)).sum(-1)

    def initial_outputs(self, moments):
        # log-frequencies of the categories, floored so that a category never
        # seen in training still has a finite logit
        freq = moments.mean.clamp_min(0)
        freq = freq / freq.sum().clamp_min(P_MIN)
        return torch.log(freq.clamp_min(P_MIN)), None

    def mean(self, params):
        return F.softmax(params, dim=-1)

    def sample(self, params, generator=None):
        probs = F.softmax(params, dim=-1)
        flat = probs.reshape(-1, probs.shape[-1])
        drawn = torch.multinomial(flat, 1, generator=generator).reshape(
            probs.shape[:-1]
        )
        return F.one_hot(drawn, probs.shape[-1]).to(params.dtype)


@builtin
class MixedLikelihood(Likelihood):
    """Independent blocks of columns, each with its own likelihood.

    The data columns are cut into consecutive blocks of ``sizes[i]`` columns
    scored by ``likelihoods[i]``; log-probabilities add up over the blocks.
    Each block's decoder outputs are a slice of ``params``: first the
    per-row outputs of every block in order, then the shared ones (see
    :meth:`Likelihood.n_shared_params`) of every block in order.

    With ``masked=True`` the data rows carry, after the data columns, one
    observation indicator (1 observed, 0 missing) per variable: a block of
    ``n_variables[i]`` variables has that many indicators. A block of one
    variable (a categorical one-hot block) is masked as a whole; a block with
    one variable per column is masked column by column, through the
    element-wise ``log_prob`` of its distribution's ``base_dist``. Missing
    entries then add nothing to log p(x | z): the masked ELBO of incomplete
    data.

    Parameters
    ----------
    likelihoods : tuple of Likelihood
        The model of each block.
    sizes : tuple of int
        Number of data columns of each block.
    n_variables : tuple of int, default=None
        Number of variables of each block, 1 or ``sizes[i]``; ``sizes`` when
        None. Only the masked layout uses it.
    masked : bool, default=False
        Whether the rows carry observation indicators after the data.

    Examples
    --------
    >>> import torch
    >>> from skvae import (CategoricalLikelihood, GaussianLikelihood,
    ...                    MixedLikelihood)
    >>> lik = MixedLikelihood((GaussianLikelihood(), CategoricalLikelihood()),
    ...                       (2, 3), n_variables=(2, 1))
    >>> lik.n_params(5), lik.n_shared_params(5)
    (7, 2)
    >>> params = torch.zeros(4, 7)
    >>> lik.log_prob(params, torch.zeros(4, 5)).shape, lik.mean(params).shape
    (torch.Size([4]), torch.Size([4, 5]))
    """

    def __init__(self, likelihoods, sizes, n_variables=None, masked=False):
        self.likelihoods = likelihoods
        self.sizes = sizes
        self.n_variables = n_variables
        self.masked = masked
        self.check_params()

    def check_params(self):
        """Raise unless the blocks, sizes and variables describe one layout.

        ``likelihoods`` must be a tuple (or list) of complete
        :class:`Likelihood` objects, ``sizes`` one positive integer per
        block, ``n_variables`` None or one count per block, each 1 or the
        block's size, and ``masked`` a boolean.

        Returns
        -------
        None
        """
        name = type(self).__name__
        blocks, sizes = self.likelihoods, self.sizes
        if not isinstance(blocks, tuple | list) or not all(
            isinstance(b, Likelihood) for b in blocks
        ):
            raise TypeError(
                f"{name}: likelihoods must be a tuple of likelihoods (Likelihood "
                f"objects), got {blocks!r}."
            )
        for block in blocks:
            block.check_params()
        if (
            not isinstance(sizes, tuple | list)
            or len(sizes) != len(blocks)
            or not all(_is_count(s) and s >= 1 for s in sizes)
        ):
            raise ValueError(
                f"{name}: sizes must hold one positive size per likelihood "
                f"({len(blocks)}), got {sizes!r}."
            )
        variables = self.n_variables
        if variables is not None and (
            not isinstance(variables, tuple | list)
            or len(variables) != len(sizes)
            or not all(
                _is_count(v) and v in (1, s)
                for v, s in zip(variables, sizes, strict=True)
            )
        ):
            raise ValueError(
                f"{name}: n_variables must be None or, per block, 1 or its size "
                f"(sizes={sizes!r}), got {variables!r}."
            )
        if not isinstance(self.masked, bool):
            raise TypeError(f"{name}: masked must be a boolean, got {self.masked!r}.")

    def check_n_features(self, n_features):
        """Raise ``ValueError`` unless the blocks' sizes add up to ``n_features``.

        With ``masked=True`` the rows also carry one indicator per variable
        after the data columns, and those count too.

        Parameters
        ----------
        n_features : int
            Number of columns of the matrix trained on.

        Returns
        -------
        None
        """
        width = sum(int(s) for s in self.sizes)
        if self.masked:
            variables = self.sizes if self.n_variables is None else self.n_variables
            width += sum(int(v) for v in variables)
        if width != n_features:
            layout = " plus their observation indicators" if self.masked else ""
            raise ValueError(
                f"{type(self).__name__} has blocks of sizes {tuple(self.sizes)} "
                f"({width} columns{layout}), but X has {n_features} columns."
            )

    def _layout(self):
        """Per block: likelihood, data, own-params, shared-params and mask slices,
        and whether the mask applies column by column."""
        sizes = [int(s) for s in self.sizes]
        variables = list(sizes if self.n_variables is None else self.n_variables)
        pairs = list(zip(self.likelihoods, sizes, strict=True))
        shared = [lik.n_shared_params(s) for lik, s in pairs]
        own = [lik.n_params(s) - h for (lik, s), h in zip(pairs, shared, strict=True)]
        layout, d, p, q, m = [], 0, 0, sum(own), sum(sizes)
        for (lik, s), o, h, v in zip(pairs, own, shared, variables, strict=True):
            layout.append(
                (
                    lik,
                    slice(d, d + s),
                    slice(p, p + o),
                    slice(q, q + h),
                    slice(m, m + v),
                    v == s and v > 1,
                )
            )
            d, p, q, m = d + s, p + o, q + h, m + v
        return layout

    @staticmethod
    def _block_params(params, own, shared):
        if shared.start == shared.stop:
            return params[..., own]
        if own.stop == shared.start:  # adjacent, as for a single block: a view
            return params[..., own.start : shared.stop]
        return torch.cat(
            [params[..., own], params[..., shared].expand(*params.shape[:-1], -1)],
            dim=-1,
        )

    def n_params(self, n_features):
        return sum(
            lik.n_params(int(s))
            for lik, s in zip(self.likelihoods, self.sizes, strict=True)
        )

    def n_shared_params(self, n_features):
        return sum(
            lik.n_shared_params(int(s))
            for lik, s in zip(self.likelihoods, self.sizes, strict=True)
        )

    def observed(self, x):
        n_data = sum(int(s) for s in self.sizes)
        if not self.masked:
            return x[..., :n_data], None
        # one indicator per variable: a one-variable block's covers its columns
        observed = [
            x[..., mask] if per_column else x[..., mask].expand(*x.shape[:-1], s)
            for (_, data, _, _, mask, per_column), s in zip(
                self._layout(), (int(s) for s in self.sizes), strict=True
            )
        ]
        return x[..., :n_data], torch.cat(observed, dim=-1)

    def initial_outputs(self, moments):
        """Each block's initial outputs, placed in its own slices.

        Every block gets the moments of its own columns; a block without an
        opinion leaves its slices NaN (keep the default start).
        """
        layout = self._layout()
        n_own = sum(own.stop - own.start for _, _, own, _, _, _ in layout)
        n_shared = sum(sh.stop - sh.start for _, _, _, sh, _, _ in layout)
        bias = torch.full((n_own,), torch.nan, dtype=torch.float64)
        shared = torch.full((max(n_shared, 0),), torch.nan, dtype=torch.float64)
        for lik, data, own, sh, _, _ in layout:
            block_bias, block_shared = lik.initial_outputs(moments[data])
            if block_bias is not None:
                bias[own] = block_bias.to(bias)
            if block_shared is not None:
                shared[sh.start - n_own : sh.stop - n_own] = block_shared.to(shared)
        return bias, (shared if n_shared else None)

    def distribution(self, params):
        raise NotImplementedError(
            "MixedLikelihood has no single torch distribution; use log_prob and "
            "mean, or the distribution of each block's likelihood."
        )

    def log_prob(self, params, x):
        total = 0
        for lik, data, own, shared, mask, per_column in self._layout():
            block = self._block_params(params, own, shared)
            if not self.masked:
                total = total + lik.log_prob(block, x[..., data])
            elif per_column:  # one indicator per column: mask element-wise
                total = total + lik.masked_log_prob(block, x[..., data], x[..., mask])
            else:
                observed = x[..., mask.start]
                total = total + lik.log_prob(block, x[..., data]) * observed
        return total

    def mean(self, params):
        return torch.cat(
            [
                lik.mean(self._block_params(params, own, shared))
                for lik, _, own, shared, _, _ in self._layout()
            ],
            dim=-1,
        )

    def _conditional(self, params, x, observed, draw):
        offset = sum(int(s) for s in self.sizes)
        out = []
        for lik, data, own, shared, mask, per_column in self._layout():
            block = self._block_params(params, own, shared)
            seen = observed[..., mask.start - offset : mask.stop - offset]
            out.append(draw(lik, block, x[..., data], seen, per_column))
        return torch.cat(out, dim=-1)

    def conditional_mean(self, params, x, observed):
        """Mean of p(x | z) given the observed entries, block by block.

        A block masked column by column conditions on its observed entries
        (:meth:`Likelihood.conditional_mean`); a block of one variable is
        either observed whole or missing whole, so it gives its mean.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.
        x : torch.Tensor of shape (..., n_features)
            The data columns, without the observation indicators.
        observed : torch.Tensor of shape (..., n_indicators)
            The observation indicators of the masked layout.

        Returns
        -------
        mean : torch.Tensor of shape (..., n_features)
        """
        return self._conditional(
            params,
            x,
            observed,
            lambda lik, block, data, seen, per_column: (
                lik.conditional_mean(block, data, seen)
                if per_column
                else lik.mean(block)
            ),
        )

    def weighted_conditional_mean(self, params, x, observed, weights):
        """:meth:`conditional_mean` averaged over draws, block by block (see
        :meth:`Likelihood.weighted_conditional_mean`)."""
        return self._conditional(
            params,
            x,
            observed,
            lambda lik, block, data, seen, per_column: (
                lik.weighted_conditional_mean(block, data, seen, weights)
                if per_column
                else (weights.unsqueeze(-1) * lik.mean(block)).sum(-2)
            ),
        )

    def conditional_sample(self, params, x, observed, generator=None):
        """One draw from p(x | z) given the observed entries, block by block.

        As :meth:`conditional_mean`, with :meth:`Likelihood.conditional_sample`
        and :meth:`Likelihood.sample`.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.
        x : torch.Tensor of shape (..., n_features)
            The data columns, without the observation indicators.
        observed : torch.Tensor of shape (..., n_indicators)
            The observation indicators of the masked layout.
        generator : torch.Generator, optional
            On ``params``' device.

        Returns
        -------
        x : torch.Tensor of shape (..., n_features)
        """
        return self._conditional(
            params,
            x,
            observed,
            lambda lik, block, data, seen, per_column: (
                lik.conditional_sample(block, data, seen, generator)
                if per_column
                else lik.sample(block, generator)
            ),
        )

    def sample(self, params, generator=None):
        return torch.cat(
            [
                lik.sample(self._block_params(params, own, shared), generator)
                for lik, _, own, shared, _, _ in self._layout()
            ],
            dim=-1,
        )


def _is_count(value):
    return isinstance(value, Integral) and not isinstance(value, bool)
