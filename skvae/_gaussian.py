"""Gaussian observation models: one scale per feature, or a full covariance.

Like :mod:`skvae._likelihoods`, this module imports nothing from
scikit-learn. ``GaussianLikelihood`` is registered under the alias
``"gaussian"``; its :meth:`~GaussianLikelihood.for_covariance` resolves an
estimator's ``covariance`` to one of the two classes here.
"""

import functools
import math

import torch
from torch import distributions as D
from torch.nn import functional as F

from ._likelihoods import AUTO_FULL_MAX, COVARIANCES, Likelihood, _check_real, builtin

__all__ = ["GaussianLikelihood", "FullCovarianceGaussianLikelihood"]

#: with data-aware initialisation, a column's initial scale is at least this
#: share of the typical (root-mean-square) column's: the decoder's random
#: initial outputs miss a constant column by about as much as any other, and
#: a scale at ``min_scale`` would make its first losses thousands of nats
SCALE_FLOOR = 0.1


def initial_raw_scales(std, min_scale):
    """Raw scales whose ``softplus(raw) + min_scale`` is each column's std.

    The stds are floored at :data:`SCALE_FLOOR` times their root mean square
    and at twice ``min_scale``; NaN (a column never observed) stays NaN.
    """
    typical = std[~torch.isnan(std)].square().mean().sqrt()
    floor = max(2 * min_scale, SCALE_FLOOR * float(typical.nan_to_num(0.0)))
    excess = std.clamp_min(floor) - min_scale
    return excess + torch.log(-torch.expm1(-excess))  # the inverse of softplus


@builtin(alias="gaussian")
class GaussianLikelihood(Likelihood):
    """Diagonal Gaussian p(x | z) with a learned per-feature scale.

    The decoder outputs the mean of every feature; each feature also has one
    learned standard deviation, shared by all rows, equal to
    ``min_scale + softplus(raw)``: it never falls below ``min_scale``, so a
    constant feature still has a finite likelihood.

    Parameters
    ----------
    min_scale : float, default=1e-3
        Floor on the standard deviation of every feature, in data units.

    Examples
    --------
    >>> import torch
    >>> from skvae import GaussianLikelihood
    >>> lik = GaussianLikelihood()
    >>> lik.n_params(3)
    6
    >>> lik.distribution(torch.zeros(5, 6)).log_prob(torch.zeros(5, 3)).shape
    torch.Size([5])
    """

    covariances = COVARIANCES

    def __init__(self, min_scale=1e-3):
        self.min_scale = min_scale
        self.check_params()

    @classmethod
    def for_covariance(cls, covariance, n_features):
        if covariance == "full" or (
            covariance == "auto" and n_features <= AUTO_FULL_MAX
        ):
            return FullCovarianceGaussianLikelihood()
        return super().for_covariance("diagonal", n_features)

    def check_params(self):
        super().check_params()
        _check_real(self, "min_scale", self.min_scale)

    def n_params(self, n_features):
        return 2 * n_features

    def n_shared_params(self, n_features):
        return n_features

    def distribution(self, params):
        loc, raw_scale = params.chunk(2, dim=-1)
        scale = F.softplus(raw_scale) + self.min_scale
        return D.Independent(D.Normal(loc, scale, validate_args=False), 1)

    def log_prob(self, params, x):
        loc, raw_scale = params.chunk(2, dim=-1)
        scale = F.softplus(raw_scale) + self.min_scale
        z = (x - loc) / scale
        return -(0.5 * z.square() + torch.log(scale)).sum(-1) - (
            0.5 * math.log(2 * math.pi) * loc.shape[-1]
        )

    def initial_outputs(self, moments):
        # each column's mean and standard deviation: the best constant model
        return moments.mean, initial_raw_scales(moments.std, self.min_scale)

    def weighted_conditional_mean(self, params, x, observed, weights):
        # the mean is the first half of the parameters; the features are
        # independent given z, so nothing else conditions on the observed
        return _affine_weighted_conditional_mean(
            self, GaussianLikelihood, params, x, observed, weights
        )

    def mean(self, params):
        return params.chunk(2, dim=-1)[0]

    def sample(self, params, generator=None):
        loc, raw_scale = params.chunk(2, dim=-1)
        scale = F.softplus(raw_scale) + self.min_scale
        noise = torch.randn(
            loc.shape, generator=generator, device=loc.device, dtype=loc.dtype
        )
        return loc + scale * noise


def _without_autocast(method):
    """Run ``method`` with autocast off on its ``params``' device.

    Mixed-precision training runs the whole loss under bfloat16 autocast,
    which would round the covariance's matrix products before they are
    factorised; its algebra stays in the precision of ``params`` instead.
    """

    @functools.wraps(method)
    def wrapper(self, params, *args, **kwargs):
        if params.device.type not in ("cpu", "cuda"):
            return method(self, params, *args, **kwargs)
        with torch.autocast(params.device.type, enabled=False):
            return method(self, params, *args, **kwargs)

    return wrapper


def _affine_weighted_conditional_mean(likelihood, base, params, x, observed, weights):
    """:meth:`Likelihood.weighted_conditional_mean` for a likelihood whose
    conditional mean is affine in the raw parameters (those of ``base``'s
    :meth:`conditional_mean`): the weighted parameters, conditioned once.
    A subclass with its own conditional mean gets the general average."""
    own = type(likelihood)
    if own.conditional_mean is not base.conditional_mean or own.mean is not base.mean:
        return Likelihood.weighted_conditional_mean(
            likelihood, params, x, observed, weights
        )
    mixed = (weights.unsqueeze(-1) * params).sum(-2)
    return likelihood.conditional_mean(mixed, x.squeeze(-2), observed.squeeze(-2))


@builtin
class FullCovarianceGaussianLikelihood(Likelihood):
    """Gaussian p(x | z) with a learned covariance matrix shared by all rows.

    The decoder outputs the mean of every feature, as for
    :class:`GaussianLikelihood`; the noise around it is
    ``N(0, L L^T)`` with one learned lower-triangular ``L`` (positive
    diagonal at least ``min_scale``) shared by all rows. Correlations that
    the latent space leaves unexplained, such as near-linear relations
    between columns, are so modelled in closed form instead of through z.
    An incomplete row is scored by the marginal of its observed entries, and
    :meth:`conditional_mean` fills its missing entries with their Gaussian
    regression on the observed ones. With ``L`` diagonal it is
    :class:`GaussianLikelihood`, which is also where training starts.

    It needs ``n_features * (n_features + 1) / 2`` shared parameters, and an
    incomplete row costs a Cholesky factorisation of its observed block, so
    its cost grows with the cube of ``n_features``: with ``VAEImputer``'s
    defaults a training step took 1.7 times the diagonal model's at 30
    features, 5.2 times at 64 and 28.5 times at 200
    (``benchmarks/bench_covariance.py``).

    Parameters
    ----------
    min_scale : float, default=1e-3
        Floor on the diagonal of ``L``: the standard deviation of each
        feature given the ones before it, in data units.

    Examples
    --------
    >>> import torch
    >>> from skvae import FullCovarianceGaussianLikelihood
    >>> lik = FullCovarianceGaussianLikelihood()
    >>> lik.n_params(3), lik.n_shared_params(3)
    (9, 6)
    >>> params = torch.zeros(5, 9)
    >>> lik.log_prob(params, torch.zeros(5, 3)).shape
    torch.Size([5])
    >>> observed = torch.tensor([[1.0, 0.0, 1.0]]).expand(5, 3)
    >>> lik.conditional_mean(params, torch.ones(5, 3), observed).shape
    torch.Size([5, 3])
    """

    def __init__(self, min_scale=1e-3):
        self.min_scale = min_scale
        self.check_params()

    def check_params(self):
        super().check_params()
        _check_real(self, "min_scale", self.min_scale)

    def n_params(self, n_features):
        return n_features + self.n_shared_params(n_features)

    def n_shared_params(self, n_features):
        return n_features * (n_features + 1) // 2

    @staticmethod
    def _n_features(params):
        # n_params = d + d (d + 1) / 2, so d^2 + 3 d - 2 n_params = 0
        return (math.isqrt(9 + 8 * params.shape[-1]) - 3) // 2

    def _split(self, params):
        """The per-row means and the Cholesky factor ``L`` of the covariance."""
        d = self._n_features(params)
        shared = params[(0,) * (params.dim() - 1)][d:]
        diagonal = F.softplus(shared[:d]) + self.min_scale
        rows, cols = torch.tril_indices(d, d, -1, device=params.device)
        factor = torch.diag_embed(diagonal).index_put((rows, cols), shared[d:])
        return params[..., :d], factor

    @_without_autocast
    def covariance(self, params):
        """The covariance matrix ``L L^T`` of p(x | z), the same for every row.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.

        Returns
        -------
        covariance : torch.Tensor of shape (n_features, n_features)
        """
        factor = self._split(params)[1]
        return factor @ factor.mT

    @_without_autocast
    def distribution(self, params):
        loc, factor = self._split(params)
        return D.MultivariateNormal(loc, scale_tril=factor, validate_args=False)

    @_without_autocast
    def log_prob(self, params, x):
        loc, factor = self._split(params)
        residual = torch.broadcast_to(
            x - loc, torch.broadcast_shapes(x.shape, loc.shape)
        )
        white = torch.linalg.solve_triangular(
            factor.mT, residual.reshape(-1, loc.shape[-1]), upper=True, left=False
        ).reshape(residual.shape)
        return (
            -0.5 * white.square().sum(-1)
            - torch.log(factor.diagonal()).sum()
            - (0.5 * math.log(2 * math.pi) * loc.shape[-1])
        )

    @staticmethod
    def _as_rows(residual, observed):
        """``residual`` as matrices of rows that share one observation pattern.

        The importance-weighted bound scores k draws of a row against the
        same observed entries (``observed`` of shape (..., 1, d) against
        residuals of shape (..., k, d)): those k rows then form one matrix,
        so that each pattern's factor is solved against all of them at once
        instead of being broadcast to every draw. Returns the rows, of shape
        (..., m, d), the patterns, of shape (..., d), and whether m = 1 was
        added (to be squeezed out of the results).
        """
        shape = torch.broadcast_shapes(residual.shape, observed.shape)
        residual = residual.expand(shape)
        if observed.dim() >= 2 and observed.shape[-2] == 1 and shape[-2] != 1:
            patterns = observed.squeeze(-2).expand(*shape[:-2], shape[-1])
            return residual, patterns, False
        return residual.unsqueeze(-2), observed.expand(shape), True

    @staticmethod
    def _observed_factor(factor, patterns):
        """Cholesky factors of the covariance with missing rows and columns
        replaced by those of the identity, one per observation pattern."""
        keep = patterns.unsqueeze(-1) * patterns.unsqueeze(-2)
        eye = torch.eye(factor.shape[0], dtype=factor.dtype, device=factor.device)
        blocked = keep * (factor @ factor.mT) + (1 - patterns).unsqueeze(-1) * eye
        return torch.linalg.cholesky(blocked)

    def _whiten(self, factor, residual, observed):
        """The observed residuals as rows (see :meth:`_as_rows`) times
        ``B^-T``, with ``B`` the factor of their pattern; the identity block
        leaves the missing entries at 0. Also returns ``B``, the patterns and
        whether a rows axis was added."""
        rows, patterns, added = self._as_rows(
            torch.nan_to_num(residual * observed), observed
        )
        blocked = self._observed_factor(factor, patterns)
        white = torch.linalg.solve_triangular(blocked.mT, rows, upper=True, left=False)
        return white, blocked, patterns, added

    @_without_autocast
    def masked_log_prob(self, params, x, observed):
        loc, factor = self._split(params)
        white, blocked, patterns, added = self._whiten(factor, x - loc, observed)
        log_det = torch.log(blocked.diagonal(dim1=-2, dim2=-1)).sum(-1, keepdim=True)
        n_observed = patterns.sum(-1, keepdim=True)
        out = (
            -0.5 * white.square().sum(-1)
            - log_det
            - 0.5 * math.log(2 * math.pi) * n_observed
        )
        return out.squeeze(-1) if added else out

    def _regress(self, loc, factor, x, observed, noise):
        """loc + noise on the missing entries, moved by their Gaussian
        regression on the observed entries' residuals from loc + noise."""
        white, blocked, _, added = self._whiten(factor, x - loc - noise, observed)
        # rows (B B^T)^-1 Sigma, with Sigma_oo^-1 on the observed block
        solved = torch.linalg.solve_triangular(blocked, white, upper=False, left=False)
        shift = (solved @ factor) @ factor.mT
        shift = shift.squeeze(-2) if added else shift
        return torch.where(observed > 0.5, x, loc + noise + shift)

    @_without_autocast
    def conditional_mean(self, params, x, observed):
        loc, factor = self._split(params)
        return self._regress(loc, factor, x, observed, 0)

    def weighted_conditional_mean(self, params, x, observed, weights):
        # the means and the regression on the observed entries are linear in
        # loc, and the shared factor is the same at every draw
        return _affine_weighted_conditional_mean(
            self, FullCovarianceGaussianLikelihood, params, x, observed, weights
        )

    @_without_autocast
    def conditional_sample(self, params, x, observed, generator=None):
        loc, factor = self._split(params)
        noise = self._noise(loc, factor, generator)
        return self._regress(loc, factor, x, observed, noise)

    def initial_outputs(self, moments):
        # The diagonal model's start: L = diag(std), no correlations. Starting
        # at the data's full covariance would leave the latent space nothing
        # to explain at first, so the KL term would push q(z | x) to the prior.
        std = moments.std
        d = std.shape[0]
        shared = torch.zeros(d * (d + 1) // 2, dtype=torch.float64)
        shared[:d] = initial_raw_scales(std, self.min_scale)
        return moments.mean, shared

    def mean(self, params):
        return params[..., : self._n_features(params)]

    @staticmethod
    def _noise(loc, factor, generator):
        eps = torch.randn(
            loc.shape, generator=generator, device=loc.device, dtype=loc.dtype
        )
        return eps @ factor.mT

    @_without_autocast
    def sample(self, params, generator=None):
        loc, factor = self._split(params)
        return loc + self._noise(loc, factor, generator)
