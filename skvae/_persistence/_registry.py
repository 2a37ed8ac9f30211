"""The classes the file format may build, and how estimators register.

An estimator class joins the format with the :func:`register` decorator,
declaring its fitted-attribute schema (see :mod:`._schema`), the attribute
holding a nested estimator if it wraps one, and the parameters added after
files were first written. The format never imports an estimator module: the
estimators import this one, and ``import skvae`` registers them all before
:func:`skvae.load` can run. Likelihoods are the fixed list of skvae's own
classes, never user subclasses.
"""

import contextlib
import contextvars
import inspect
from dataclasses import dataclass, field

from .. import _gaussian, _mixed  # noqa: F401  (they register their likelihoods)
from .._likelihoods import LIKELIHOOD_CLASSES

__all__ = [
    "Nested",
    "Registration",
    "register",
    "registration",
    "registered",
    "later_params",
    "likelihood_classes",
    "check_likelihood",
    "check_n_features",
    "qualname",
    "given_modules",
    "modules_given",
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
    conditions: str | None = None
    #: the value a file (or pickle) without a later parameter had, where it is
    #: not the parameter's default of today (the default changed since)
    values_then: dict = field(default_factory=dict)


_ESTIMATORS = {}


def register(*, attributes, nested=None, later_params=(), conditions=None):
    """Class decorator: the format may save and rebuild this estimator class.

    Parameters
    ----------
    attributes : dict of str to Spec
        Every attribute ``fit`` sets (and ``set_output``'s configuration),
        with its type, shape and range; ``Stored()`` for the torch objects
        kept as tensors (``module_``, ``optimizer_``).
    nested : Nested, optional
        The attribute holding a fitted estimator this one wraps.
    later_params : iterable of str, or dict of str to value
        Parameters added after files were first written: a file (or pickle)
        without one gets its default, the behaviour of the older release;
        or, as a dict, the value given there, where the default has changed
        since (``{"numeric_scaling": "standard"}``, whose default is now
        ``"auto"``; None keeps the default).
    conditions : str, optional
        The fitted attribute (an ``Int``) holding the width of the condition
        a conditional decoder reads (``VAEModule``'s ``n_conditions``).

    Returns
    -------
    decorator : callable
        Registers the class under its name and returns it unchanged.
    """

    def decorate(cls):
        then = later_params if isinstance(later_params, dict) else {}
        _ESTIMATORS[cls.__name__] = Registration(
            cls,
            dict(attributes),
            nested,
            frozenset(later_params),
            conditions,
            {k: v for k, v in then.items() if v is not None},
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
    """Parameters of ``cls`` or of a registered base added after files existed,
    each with the value a file (or pickle) without it gets: what the release
    that wrote it did."""
    defaults = inspect.signature(cls).parameters
    values = {}
    for base in reversed(cls.__mro__):
        entry = _ESTIMATORS.get(base.__name__)
        if entry is not None and entry.cls is base:
            for name in entry.later_params & set(defaults):
                values[name] = entry.values_then.get(name, defaults[name].default)
    return values


# ------------------------------------------------------------------ likelihoods


def likelihood_classes():
    """skvae's own likelihood classes by name: the only ones a file may name
    (:data:`skvae._likelihoods.LIKELIHOOD_CLASSES`; user subclasses excluded)."""
    return dict(LIKELIHOOD_CLASSES)


def check_likelihood(likelihood):
    """Raise unless the likelihood's parameters are ones its class accepts
    (its own :meth:`~skvae.Likelihood.check_params`)."""
    likelihood.check_params()


def check_n_features(likelihood, n_features):
    """ValueError unless ``likelihood`` can model ``n_features`` columns."""
    likelihood.check_n_features(n_features)


# ---------------------------------------------------------------- user modules

_GIVEN_MODULES = contextvars.ContextVar("skvae_given_modules", default=None)


def qualname(obj):
    """``module.qualname`` of a class or function, as a file names it."""
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', '?')}"


def given_modules():
    """The module classes the caller of ``load`` passed, by qualified name."""
    return _GIVEN_MODULES.get() or {}


@contextlib.contextmanager
def modules_given(modules):
    """Within the block, a file may name exactly these classes (``load``'s
    ``modules``); a TypeError unless they are callables."""
    modules = list(modules or ())
    for cls in modules:
        if not callable(cls):
            raise TypeError(
                f"modules must be nn.Module classes or factories, got {cls!r}."
            )
    token = _GIVEN_MODULES.set({qualname(cls): cls for cls in modules})
    try:
        yield
    finally:
        _GIVEN_MODULES.reset(token)
