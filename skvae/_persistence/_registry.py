"""The classes the file format may build, and how estimators register.

An estimator class joins the format with the :func:`register` decorator,
declaring its fitted-attribute schema (see :mod:`._schema`), the attribute
holding a nested estimator if it wraps one, and the parameters added after
files were first written. The format never imports an estimator module: the
estimators import this one, and ``import skvae`` registers them all before
:func:`skvae.load` can run. Likelihoods are the fixed list of skvae's own
classes, never user subclasses.
"""

import math
from dataclasses import dataclass, field
from numbers import Real

from .._likelihoods import (
    BernoulliLikelihood,
    FullCovarianceGaussianLikelihood,
    GaussianLikelihood,
)
from .._mixed import CategoricalLikelihood, MixedLikelihood
from ._messages import quote

__all__ = [
    "Nested",
    "Registration",
    "register",
    "registration",
    "registered",
    "later_params",
    "likelihood_classes",
    "check_likelihood",
]


@dataclass(frozen=True)
class Nested:
    """A fitted estimator held in attribute ``name`` of a wrapping estimator.

    ``classes`` names the registered classes it may be; ``params`` are the
    parameter values the wrapper's ``fit`` always gives it.
    """

    name: str
    classes: tuple
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Registration:
    """What the format knows of one estimator class."""

    cls: type
    attributes: dict
    nested: Nested | None
    later_params: frozenset


_ESTIMATORS = {}


def register(*, attributes, nested=None, later_params=()):
    """Class decorator: the format may save and rebuild this estimator class.

    Parameters
    ----------
    attributes : dict of str to Spec
        Every attribute ``fit`` sets (and ``set_output``'s configuration),
        with its type, shape and range; ``Stored()`` for the torch objects
        kept as tensors (``module_``, ``optimizer_``).
    nested : Nested, optional
        The attribute holding a fitted estimator this one wraps.
    later_params : iterable of str
        Parameters added after files were first written: a file (or pickle)
        without one gets its default, the behaviour of the older release.

    Returns
    -------
    decorator : callable
        Registers the class under its name and returns it unchanged.
    """

    def decorate(cls):
        _ESTIMATORS[cls.__name__] = Registration(
            cls, dict(attributes), nested, frozenset(later_params)
        )
        return cls

    return decorate


def registration(cls):
    """The registration of exactly ``cls`` (not of a subclass), or None."""
    entry = _ESTIMATORS.get(cls.__name__)
    return entry if entry is not None and entry.cls is cls else None


def registered(*, nested_only=False):
    """Registrations by class name; ``nested_only``: those that wrap nothing."""
    return {
        name: entry
        for name, entry in _ESTIMATORS.items()
        if not (nested_only and entry.nested is not None)
    }


def later_params(cls):
    """Parameters of ``cls`` or of a registered base added after files existed."""
    names = set()
    for base in cls.__mro__:
        entry = _ESTIMATORS.get(base.__name__)
        if entry is not None and entry.cls is base:
            names |= entry.later_params
    return frozenset(names)


# ------------------------------------------------------------------ likelihoods

_LIKELIHOODS = (
    GaussianLikelihood,
    FullCovarianceGaussianLikelihood,
    BernoulliLikelihood,
    CategoricalLikelihood,
    MixedLikelihood,
)


def likelihood_classes():
    """skvae's own likelihood classes by name: the only ones a file may name."""
    return {cls.__name__: cls for cls in _LIKELIHOODS}


def check_likelihood(likelihood):
    """ValueError unless the likelihood's parameters are ones skvae accepts."""
    if hasattr(likelihood, "min_scale"):
        scale = likelihood.min_scale
        if (
            not isinstance(scale, Real)
            or isinstance(scale, bool)
            or not math.isfinite(scale)
            or not scale > 0
        ):
            raise ValueError(f"min_scale must be a positive finite number, got {quote(scale)}")
    if isinstance(likelihood, MixedLikelihood):
        _check_mixed(likelihood)


def _check_mixed(likelihood):
    """A MixedLikelihood's blocks must be likelihoods of consistent sizes."""
    blocks, sizes = likelihood.likelihoods, likelihood.sizes
    variables, masked = likelihood.n_variables, likelihood.masked
    classes = set(likelihood_classes().values())
    if type(blocks) is not tuple or not all(
        type(b) in classes and type(b) is not MixedLikelihood for b in blocks
    ):
        raise ValueError("MixedLikelihood needs a tuple of likelihoods")
    if (
        type(sizes) is not tuple
        or len(sizes) != len(blocks)
        or not all(type(s) is int and s >= 1 for s in sizes)
    ):
        raise ValueError("MixedLikelihood needs one positive size per likelihood")
    if variables is not None and (
        type(variables) is not tuple
        or len(variables) != len(sizes)
        or not all(
            type(v) is int and v in (1, s)
            for v, s in zip(variables, sizes, strict=True)
        )
    ):
        raise ValueError(
            "MixedLikelihood's n_variables must be 1 or the size of each block"
        )
    if type(masked) is not bool:
        raise ValueError("MixedLikelihood's masked must be a boolean")
    for block in blocks:
        check_likelihood(block)


def check_n_features(likelihood, n_features):
    """ValueError unless ``likelihood`` can model ``n_features`` columns."""
    if isinstance(likelihood, MixedLikelihood):
        width = sum(likelihood.sizes)
        if likelihood.masked:
            width += sum(
                likelihood.sizes if likelihood.n_variables is None else likelihood.n_variables
            )
        if width != n_features:
            raise ValueError(
                f"MixedLikelihood describes {width} columns, not {n_features}"
            )
