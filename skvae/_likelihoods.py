"""Observation models p(x | z): what the decoder's outputs mean.

A likelihood turns the raw decoder outputs into a ``torch.distributions``
object over one row of data. The training loss, ``score_samples``,
``inverse_transform`` and ``sample`` all go through the same object, so adding
a likelihood means adding one class. This module imports nothing from
scikit-learn.

It holds the base class, :class:`BernoulliLikelihood`, the registry and
:func:`make_likelihood`; the Gaussian likelihoods are in
:mod:`skvae._gaussian` and the table ones in :mod:`skvae._mixed`. Every
built-in class is registered where it is defined, with :func:`builtin`: by
class name in :data:`LIKELIHOOD_CLASSES` (the classes a saved file may name)
and, when it has one, by its string alias in :data:`LIKELIHOODS` (the names
the estimators' ``likelihood`` parameter accepts). Importing ``skvae``
imports all of them, so the registry is complete whenever any skvae module
is. :func:`make_likelihood` is the one place that turns an estimator's
``likelihood`` and ``covariance`` into the object it trains.
"""

import copy
import math
from numbers import Real

import torch
from torch import distributions as D
from torch.nn import functional as F

__all__ = [
    "LIKELIHOODS",
    "LIKELIHOOD_CLASSES",
    "COVARIANCES",
    "AUTO_FULL_MAX",
    "P_MIN",
    "builtin",
    "make_likelihood",
    "Likelihood",
    "BernoulliLikelihood",
]

#: string alias -> built-in likelihood class, the values of ``likelihood``
LIKELIHOODS = {}
#: class name -> every built-in likelihood class, the ones a file may name
LIKELIHOOD_CLASSES = {}

#: the values of ``covariance``
COVARIANCES = ("diagonal", "full", "auto")

#: with ``covariance="auto"``, the most Gaussian features given a full
#: covariance: beyond, its Cholesky factorisation per row and step costs too
#: much (``benchmarks/bench_covariance.py``)
AUTO_FULL_MAX = 64

#: the smallest probability a data-aware initial output stands for (a logit
#: of about -6.9): columns whose value never varies start near, not at, it
P_MIN = 1e-3


def builtin(cls=None, *, alias=None):
    """Class decorator registering a built-in likelihood.

    The class enters :data:`LIKELIHOOD_CLASSES` under its name and, with an
    ``alias``, :data:`LIKELIHOODS` under it. Only skvae's own classes are
    decorated: a user's subclass of :class:`Likelihood` is not registered,
    since the file loader rebuilds only the classes listed here.

    Parameters
    ----------
    cls : type, optional
        The class, when used as ``@builtin`` without arguments.
    alias : str, optional
        The string that names the class in an estimator's ``likelihood``.

    Returns
    -------
    cls or decorator
    """

    def register(cls):
        if not (isinstance(cls, type) and issubclass(cls, Likelihood)):
            raise TypeError(f"builtin registers Likelihood classes, got {cls!r}.")
        LIKELIHOOD_CLASSES[cls.__name__] = cls
        if alias is not None:
            LIKELIHOODS[alias] = cls
        return cls

    return register if cls is None else register(cls)


def make_likelihood(likelihood, *, covariance="diagonal", n_features):
    """A fresh likelihood object for an estimator's ``likelihood`` parameter.

    Parameters
    ----------
    likelihood : str or Likelihood
        A key of :data:`LIKELIHOODS`, or a likelihood object, which is
        checked (:meth:`Likelihood.check_params`) and deep-copied so that the
        caller's object is never trained or changed.
    covariance : {"diagonal", "full", "auto"}, default="diagonal"
        Passed to the aliased class's :meth:`Likelihood.for_covariance`: the
        Gaussian alias gives :class:`GaussianLikelihood` for ``"diagonal"``,
        :class:`FullCovarianceGaussianLikelihood` for ``"full"``, and the
        latter up to ``AUTO_FULL_MAX`` features for ``"auto"``. Anything but
        ``"diagonal"`` is refused for a likelihood object and for aliases
        without a covariance.
    n_features : int
        Number of data features the likelihood will model.

    Returns
    -------
    likelihood : Likelihood
        A new object, not shared with the caller.

    Raises
    ------
    ValueError
        For an unknown alias or covariance, or a covariance the likelihood
        does not have.
    TypeError
        For an object that is not a complete :class:`Likelihood`.

    Examples
    --------
    >>> from skvae._likelihoods import make_likelihood
    >>> make_likelihood("gaussian", n_features=3)
    GaussianLikelihood(min_scale=0.001)
    >>> make_likelihood("gaussian", covariance="auto", n_features=3)
    FullCovarianceGaussianLikelihood(min_scale=0.001)
    """
    if covariance not in COVARIANCES:
        raise ValueError(
            f"covariance must be one of {list(COVARIANCES)}, got {covariance!r}."
        )
    if isinstance(likelihood, str):
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"likelihood must be one of {sorted(LIKELIHOODS)} or a Likelihood "
                f"object, got {likelihood!r}."
            )
        family = LIKELIHOODS[likelihood]
        if covariance not in family.covariances:
            raise ValueError(_covariance_refused(covariance, likelihood))
        return family.for_covariance(covariance, n_features)
    if not isinstance(likelihood, Likelihood):
        raise TypeError(
            f"likelihood must be one of {sorted(LIKELIHOODS)} or a Likelihood "
            f"object, got {type(likelihood).__name__}."
        )
    if covariance != "diagonal":
        raise ValueError(_covariance_refused(covariance, likelihood))
    likelihood.check_params()
    return copy.deepcopy(likelihood)


def _covariance_refused(covariance, likelihood):
    """The message refusing ``covariance`` for ``likelihood`` (alias or object)."""
    having = [a for a, c in LIKELIHOODS.items() if covariance in c.covariances]
    return (
        f"covariance={covariance!r} is a covariance of "
        f"{' or '.join(f'likelihood={a!r}' for a in having)}; it needs that "
        f"likelihood, got likelihood={likelihood!r}."
    )


def _check_real(owner, name, value, *, low=0.0):
    """Raise unless ``value`` is a finite real above ``low`` (not a bool)."""
    if not isinstance(value, Real) or isinstance(value, bool):
        raise TypeError(
            f"{type(owner).__name__}: {name} must be a real number, got "
            f"{type(value).__name__} {value!r}."
        )
    if not (math.isfinite(value) and value > low):
        raise ValueError(
            f"{type(owner).__name__}: {name} must be a finite number above {low}, "
            f"got {value!r}."
        )


class Likelihood:
    """Base class of the observation models p(x | z).

    A subclass says how many decoder outputs it needs per data feature
    (:meth:`n_params`) and how to turn them into a distribution over a row of
    data (:meth:`distribution`). ``support`` is the closed interval the data
    must lie in; :class:`~skvae.VAETransformer` refuses data outside it.

    Subclasses follow the scikit-learn parameter convention: ``__init__``
    stores its keyword arguments, so :meth:`get_params` and ``repr`` work
    without more code; the built-in ones then call :meth:`check_params`,
    which the estimators run again at ``fit`` since attributes may have been
    set since. A subclass with parameters overrides :meth:`check_params`, one
    that cannot model every number of features :meth:`check_n_features`,
    and one with a string alias is registered in the likelihood's module with
    ``@builtin(alias=...)``.
    """

    #: closed interval ``(low, high)`` that every data value must lie in
    support = (-math.inf, math.inf)

    #: the ``covariance`` values :meth:`for_covariance` accepts
    covariances = ("diagonal",)

    #: the methods a subclass must define
    _required = ("n_params", "distribution")

    @classmethod
    def for_covariance(cls, covariance, n_features):
        """The likelihood of this family with the given ``covariance``.

        The base class has only ``"diagonal"`` (features independent given
        z) and returns ``cls()``; a family with a coupled variant overrides
        it and lists its values in ``covariances``.

        Parameters
        ----------
        covariance : str
            One of :data:`COVARIANCES`.
        n_features : int
            Number of data features, which ``"auto"`` may consult.

        Returns
        -------
        likelihood : Likelihood
        """
        if covariance not in cls.covariances:
            raise ValueError(
                f"{cls.__name__} has no covariance {covariance!r}; it has "
                f"{list(cls.covariances)}."
            )
        return cls()

    def check_params(self):
        """Raise if this likelihood's parameters or methods are unusable.

        The base class checks that the subclass defines :meth:`n_params` and
        :meth:`distribution`, and raises ``TypeError`` naming the missing
        ones; subclasses with parameters extend it (calling
        ``super().check_params()``) and raise ``TypeError`` or
        ``ValueError`` naming the class and the parameter.

        Returns
        -------
        None
        """
        missing = [
            name
            for name in self._required
            if getattr(type(self), name) is getattr(Likelihood, name)
        ]
        if missing:
            raise TypeError(
                f"{type(self).__name__} is not a complete likelihood: it must "
                f"define {' and '.join(m + '()' for m in missing)} (see "
                "skvae.Likelihood)."
            )

    def check_n_features(self, n_features):
        """Raise ``ValueError`` unless this likelihood can model ``n_features``.

        The base class models any number of features; a likelihood laid out
        for a fixed width (:class:`~skvae.MixedLikelihood`) overrides it.

        Parameters
        ----------
        n_features : int
            Number of data features (columns of the matrix trained on).

        Returns
        -------
        None
        """

    def n_params(self, n_features):
        """Number of decoder outputs needed to describe ``n_features`` features.

        Parameters
        ----------
        n_features : int
            Number of data features.

        Returns
        -------
        n_params : int
        """
        raise NotImplementedError

    def n_shared_params(self, n_features):
        """How many of the trailing parameters are shared by all rows.

        These are learned once (for instance a scale per feature) instead of
        being computed from z by the decoder; they come last in ``params``.

        Parameters
        ----------
        n_features : int
            Number of data features.

        Returns
        -------
        n_shared : int
            0 unless overridden.
        """
        return 0

    def distribution(self, params):
        """Distribution over rows of data given raw decoder outputs.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.

        Returns
        -------
        dist : torch.distributions.Independent
            A distribution whose ``log_prob`` sums over the feature axis.
        """
        raise NotImplementedError

    def log_prob(self, params, x):
        """log p(x | z) of each row, summed over the features.

        The same as ``self.distribution(params).log_prob(x)``, which is what
        the base class does; a subclass may override it with a faster closed
        form, since the training loss calls it at every step.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.
        x : torch.Tensor of shape (..., n_features)
            Data, broadcastable against the distribution's batch shape.

        Returns
        -------
        log_prob : torch.Tensor of shape (...)
        """
        return self.distribution(params).log_prob(x)

    def mean(self, params):
        """Mean of p(x | z), the decoder's estimate of the data.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.

        Returns
        -------
        mean : torch.Tensor of shape (..., n_features)
        """
        return self.distribution(params).mean

    def sample(self, params, generator=None):
        """One draw from p(x | z) per row, reproducible from ``generator``.

        The base class samples :meth:`distribution` under
        ``torch.random.fork_rng`` seeded from ``generator``, so the global
        random state is left as it was; subclasses draw from ``generator``
        directly.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.
        generator : torch.Generator, optional
            On ``params``' device.

        Returns
        -------
        x : torch.Tensor of shape (..., n_features)
        """
        where = "cpu" if generator is None else generator.device
        seed = int(torch.randint(2**62, (), generator=generator, device=where))
        devices = [params.device] if params.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=params.device.type):
            torch.manual_seed(seed)
            return self.distribution(params).sample().to(params.dtype)

    def observed(self, x):
        """The data columns of rows ``x`` and which of their entries are observed.

        Used by the statistics pass of :mod:`skvae._init`. The base class's
        rows are all data and all observed: it returns ``(x, None)``; a
        layout whose rows also carry observation indicators
        (:class:`~skvae.MixedLikelihood` with ``masked=True``) overrides it.

        Parameters
        ----------
        x : torch.Tensor of shape (n_rows, n_features)

        Returns
        -------
        data : torch.Tensor of shape (n_rows, n_data_columns)
        observed : torch.Tensor of the same shape, or None
            1 where an entry is observed, 0 where it is missing.
        """
        return x, None

    def initial_outputs(self, moments):
        """Initial decoder outputs determined by the data's per-column moments.

        Called once before a fresh fit's first epoch (see
        :mod:`skvae._init`) with the moments of the training rows. The base
        class has no opinion and returns ``(None, None)``: the decoder's
        output bias and the shared parameters keep their default start.

        Parameters
        ----------
        moments : skvae._init.Moments
            Per data column: ``count``, ``total`` and ``sum_sq`` of the
            observed entries, with ``mean`` and ``std`` derived from them
            (NaN where a column has no observed entry).

        Returns
        -------
        bias : torch.Tensor of shape (n_params - n_shared_params,) or None
            Initial per-row outputs (the decoder's output bias).
        shared : torch.Tensor of shape (n_shared_params,) or None
            Initial shared parameters. NaN entries of either keep their
            default start.
        """
        return None, None

    def masked_log_prob(self, params, x, observed):
        """log p(x_o | z) of each row: the observed entries only.

        The base class scores every entry on its own (the distribution's
        ``base_dist``) and keeps the observed ones, which is exact for
        likelihoods that factorise over the features; one that couples the
        features overrides it with the marginal of the observed entries.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.
        x : torch.Tensor of shape (..., n_features)
            Data; the values at missing entries are ignored.
        observed : torch.Tensor of shape (..., n_features)
            1 where an entry is observed, 0 where it is missing.

        Returns
        -------
        log_prob : torch.Tensor of shape (...)
        """
        base = self.distribution(params).base_dist
        return (base.log_prob(x) * observed).sum(-1)

    def conditional_mean(self, params, x, observed):
        """Mean of p(x | z) given the observed entries of x.

        For a likelihood that factorises over the features this is
        :meth:`mean`, which the base class returns; one that couples the
        features conditions its missing entries on the observed ones.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.
        x : torch.Tensor of shape (..., n_features)
            Data; the values at missing entries are ignored.
        observed : torch.Tensor of shape (..., n_features)
            1 where an entry is observed, 0 where it is missing.

        Returns
        -------
        mean : torch.Tensor of shape (..., n_features)
            Only the missing entries are meaningful.
        """
        return self.mean(params)

    def weighted_conditional_mean(self, params, x, observed, weights):
        """The mean of :meth:`conditional_mean` over draws, weighted.

        The imputer's estimate E[x_missing | x_observed] averages the
        conditional means at k latent draws of a row with their normalised
        importance weights. This computes that average; a likelihood whose
        conditional mean is affine in ``params`` (the Gaussians) averages
        the parameters first and conditions once per row instead of once per
        draw, which is the same quantity.

        Parameters
        ----------
        params : torch.Tensor of shape (..., k, n_params)
            Raw decoder outputs at k draws per row.
        x, observed : torch.Tensor of shape (..., 1, n_features)
            The row's data and observation indicators, shared by its draws.
        weights : torch.Tensor of shape (..., k)
            Non-negative, summing to 1 over the draws.

        Returns
        -------
        mean : torch.Tensor of shape (..., n_features)
        """
        means = self.conditional_mean(params, x, observed)
        return (weights.unsqueeze(-1) * means).sum(-2)

    def conditional_sample(self, params, x, observed, generator=None):
        """One draw from p(x | z) given the observed entries of x.

        As for :meth:`conditional_mean`, the base class ignores the observed
        entries (exact when the features are independent given z) and
        returns :meth:`sample`.

        Parameters
        ----------
        params : torch.Tensor of shape (..., n_params)
            Raw decoder outputs.
        x : torch.Tensor of shape (..., n_features)
            Data; the values at missing entries are ignored.
        observed : torch.Tensor of shape (..., n_features)
            1 where an entry is observed, 0 where it is missing.
        generator : torch.Generator, optional
            On ``params``' device.

        Returns
        -------
        x : torch.Tensor of shape (..., n_features)
            Only the missing entries are meaningful.
        """
        return self.sample(params, generator)

    def get_params(self, deep=True):
        """Constructor arguments of this likelihood, as a dict."""
        return dict(vars(self))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_params() == other.get_params()

    def __hash__(self):
        return hash((type(self), tuple(sorted(self.get_params().items()))))


@builtin(alias="bernoulli")
class BernoulliLikelihood(Likelihood):
    """Independent Bernoulli p(x | z) for data in [0, 1].

    The decoder outputs one logit per feature. Values strictly between 0 and 1
    are scored with the same cross-entropy, as is usual for grey-level images.

    Examples
    --------
    >>> import torch
    >>> from skvae import BernoulliLikelihood
    >>> lik = BernoulliLikelihood()
    >>> lik.n_params(3)
    3
    >>> lik.mean(torch.zeros(2, 3))
    tensor([[0.5000, 0.5000, 0.5000],
            [0.5000, 0.5000, 0.5000]])
    """

    support = (0.0, 1.0)

    def n_params(self, n_features):
        return n_features

    def distribution(self, params):
        return D.Independent(D.Bernoulli(logits=params, validate_args=False), 1)

    def log_prob(self, params, x):
        if x.shape != params.shape:
            x = x.expand_as(params)
        return -F.binary_cross_entropy_with_logits(params, x, reduction="none").sum(-1)

    def initial_outputs(self, moments):
        # The logit of each column's mean: the best constant model of it;
        # clipped, since a column that is always 0 (an image's border) would
        # otherwise start at an infinite logit.
        p = moments.mean.clamp(P_MIN, 1 - P_MIN)
        return torch.logit(p), None

    def mean(self, params):
        return torch.sigmoid(params)

    def sample(self, params, generator=None):
        uniform = torch.rand(
            params.shape, generator=generator, device=params.device, dtype=params.dtype
        )
        return (uniform < torch.sigmoid(params)).to(params.dtype)
