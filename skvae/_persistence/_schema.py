"""The fitted-attribute schema estimators declare when they register.

Each fitted attribute ``fit`` may set is declared with one of the specs here:
its type, shape and range, whether it may be absent (``optional``), whether an
unfitted estimator may have it (``unfitted``), whether it repeats the
attribute of the same name of a nested estimator (``mirror``), and whether it
stands in for another (``unless``: required exactly when that one is
absent), and whether it follows from what is checked before it (``derive``:
a function of the parameters and those attributes giving the value ``fit``
sets, or None where ``fit``'s choice must be stored; a file must hold that
value, and one written before the attribute existed gets it). A size given
as a string names a parameter or an attribute checked before (``"n_iter_"``,
``"n_latent_"``). :func:`check_attributes` refuses unknown and missing
attributes and every value ``fit`` could not have produced.
"""

import math

import numpy as np

from .._latent_density import MIXTURE_KEYS
from .._likelihoods import Likelihood
from .._tabular import TabularEncoder
from ._messages import Invalid, quote

__all__ = [
    "Spec",
    "Int",
    "Float",
    "Floats",
    "FloatArray",
    "StrArray",
    "Labels",
    "Records",
    "Instance",
    "Table",
    "OutputConfig",
    "Stored",
    "LatentMixture",
    "check_attributes",
    "derived_mismatch",
]


def _size(size, context):
    return context[size] if isinstance(size, str) else size


def _is_float(value):
    return type(value) is float


class Spec:
    """One fitted attribute: how to check its value."""

    def __init__(
        self, *, optional=False, unfitted=False, mirror=False, unless=None, derive=None
    ):
        self.optional, self.unfitted, self.mirror = optional, unfitted, mirror
        # required when the attribute ``unless`` is absent, refused beside it
        self.unless = unless
        # context -> the value fit sets, or None when a file must hold it
        self.derive = derive

    def check(self, value, context):
        """Return an error text, or None when ``value`` is one fit produces."""
        raise NotImplementedError

    def check_absent(self, context):
        """Return an error text, or None when fit may leave this (optional)
        attribute unset for the parameters and attributes in ``context``."""
        return None

    def agrees(self, value, context):
        """Whether ``value``, valid in itself, is what fit gives for the
        parameters in ``context`` (False once ``set_params`` changed them)."""
        return True


class Int(Spec):
    """A Python int in ``[low, high]``; ``high`` may name a parameter."""

    def __init__(self, low=0, high=None, **kwargs):
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def check(self, value, context):
        if type(value) is not int:
            return f"should be an int, not {type(value).__name__}"
        high = _size(self.high, context)
        if value < self.low or (high is not None and value > high):
            top = high if high is not None else "inf"
            return f"is {value}, outside [{self.low}, {top}]"
        return None


class Float(Spec):
    """A Python float (finite unless ``finite=False``), or None if ``nullable``."""

    def __init__(self, *, nullable=False, finite=True, **kwargs):
        super().__init__(**kwargs)
        self.nullable, self.finite = nullable, finite

    def check(self, value, context):
        if value is None and self.nullable:
            return None
        if not _is_float(value):
            return f"should be a float, not {type(value).__name__}"
        if self.finite and not math.isfinite(value):
            return f"is {value}, not finite"
        return None


class Floats(Spec):
    """A list of floats of ``length`` (or at most ``max_length``) items."""

    def __init__(self, *, length=None, max_length=None, nullable=False, **kwargs):
        super().__init__(**kwargs)
        self.length, self.max_length, self.nullable = length, max_length, nullable

    def check(self, value, context):
        if value is None and self.nullable:
            return None
        if type(value) is not list or not all(_is_float(v) for v in value):
            return "should be a list of floats"
        length, most = _size(self.length, context), _size(self.max_length, context)
        if length is not None and len(value) != length:
            return f"has {len(value)} items, expected {length}"
        if most is not None and len(value) > most:
            return f"has {len(value)} items, more than {most}"
        return None


class FloatArray(Spec):
    """A float64 ndarray of the given ``shape`` (sizes may name parameters)."""

    def __init__(self, shape, *, low=None, **kwargs):
        super().__init__(**kwargs)
        self.shape, self.low = shape, low

    def check(self, value, context):
        shape = tuple(_size(s, context) for s in self.shape)
        if type(value) is not np.ndarray or value.dtype != np.float64:
            return "should be a float64 array"
        if value.shape != shape:
            return f"has shape {value.shape}, expected {shape}"
        if not np.isfinite(value).all():
            return "holds non-finite values"
        if self.low is not None and (value < self.low).any():
            return f"holds values below {self.low}"
        return None


class StrArray(Spec):
    """An object ndarray of str, of ``length`` items (feature names)."""

    def __init__(self, length, **kwargs):
        super().__init__(**kwargs)
        self.length = length

    def check(self, value, context):
        length = _size(self.length, context)
        if type(value) is not np.ndarray or value.dtype != object:
            return "should be an object array of str"
        if value.shape != (length,):
            return f"has shape {value.shape}, expected ({length},)"
        if not all(type(v) is str for v in value):
            return "should hold only str"
        return None


class Labels(Spec):
    """Class labels as ``np.unique`` returns them: a 1-D array of ``length``
    sorted, distinct numbers, booleans or str (an object array of str)."""

    def __init__(self, length, **kwargs):
        super().__init__(**kwargs)
        self.length = length

    def check(self, value, context):
        length = _size(self.length, context)
        if type(value) is not np.ndarray or value.shape != (length,):
            return f"should be an array of shape ({length},)"
        if value.dtype == object:
            if not all(type(v) is str for v in value):
                return "should hold only str"
        elif value.dtype.kind not in "biuf" or (
            value.dtype.kind == "f" and not np.isfinite(value).all()
        ):
            return "should hold finite numbers, booleans or str"
        if len(value) > 1 and not (value[1:] > value[:-1]).all():
            return "should be sorted and distinct"
        return None


class Records(Spec):
    """A list of ``length`` dicts with the ``keys`` (and maybe ``optional_keys``),
    each value a float or None."""

    def __init__(self, keys, *, optional_keys=(), length=None, **kwargs):
        super().__init__(**kwargs)
        self.keys, self.optional_keys = frozenset(keys), frozenset(optional_keys)
        self.length = length

    def check(self, value, context):
        if type(value) is not list:
            return "should be a list of records"
        length = _size(self.length, context)
        if length is not None and len(value) != length:
            return f"has {len(value)} records, expected {length}"
        for record in value:
            if type(record) is not dict or not (
                self.keys <= set(record) <= self.keys | self.optional_keys
            ):
                return f"should hold records with the keys {sorted(self.keys)}"
            if not all(v is None or _is_float(v) for v in record.values()):
                return "should hold records of floats"
        return None


class Instance(Spec):
    """An instance of exactly one of ``types``."""

    def __init__(self, *types, **kwargs):
        super().__init__(**kwargs)
        self.types = types

    def check(self, value, context):
        if type(value) not in self.types and not (
            Likelihood in self.types and isinstance(value, Likelihood)
        ):
            names = " or ".join(t.__name__ for t in self.types)
            return f"should be a {names}, not a {type(value).__name__}"
        return None


class OutputConfig(Spec):
    """scikit-learn's ``set_output`` configuration."""

    CONTAINERS = frozenset({"default", "pandas", "polars"})

    def check(self, value, context):
        if (
            type(value) is not dict
            or not set(value) <= {"transform"}
            or not all(type(v) is str and v in self.CONTAINERS for v in value.values())
        ):
            return (
                "should be a set_output configuration {'transform': one of "
                f"{sorted(self.CONTAINERS)}}}"
            )
        return None


class Table(Spec):
    """A fitted table encoder of ``n_features_in_`` columns."""

    def check(self, value, context):
        if type(value) is not TabularEncoder:
            return "is not a table encoder"
        n_features = context.get("n_features_in_")
        if value.n_columns != n_features:
            return f"has {value.n_columns} columns, but n_features_in_={n_features}"
        return None


class LatentMixture(Spec):
    """The latent mixture ``sample`` draws from, or None: a dict of float64
    ``weights`` (m,), ``means`` (m, k) and ``scale_tril`` (m, k, k), lower
    triangular with a positive diagonal, m at most ``max_components``; set
    exactly when ``expected(context)``, with ``k = width(context)``."""

    KEYS = MIXTURE_KEYS

    def __init__(self, expected, width, max_components, **kwargs):
        super().__init__(**kwargs)
        self.expected, self.width = expected, width
        self.max_components = max_components

    def check_absent(self, context):
        if self.expected(context):
            return "is missing, but fit sets a latent mixture for its parameters"
        return None

    def agrees(self, value, context):
        return (value is not None) == self.expected(context)

    def check(self, value, context):
        if not self.agrees(value, context):
            if value is None:
                return "is None, but fit sets a latent mixture for its parameters"
            return "holds a latent mixture, but fit sets none for its parameters"
        if value is None:
            return None
        if type(value) is not dict or set(value) != set(self.KEYS):
            return f"should be None or a dict of {', '.join(self.KEYS)}"
        arrays = [value[key] for key in self.KEYS]
        for key, array in zip(self.KEYS, arrays, strict=True):
            if type(array) is not np.ndarray or array.dtype != np.float64:
                return f"should hold a float64 array {key}"
            if not np.isfinite(array).all():
                return f"holds non-finite values in {key}"
        weights, means, scale_tril = arrays
        m, k = len(weights), self.width(context)
        if weights.shape != (m,) or not 1 <= m <= self.max_components:
            return f"should hold 1 to {self.max_components} weights"
        if (weights < 0).any() or abs(weights.sum() - 1.0) > 1e-9:
            return "should hold weights that are at least 0 and sum to 1"
        if means.shape != (m, k) or scale_tril.shape != (m, k, k):
            return f"should hold means of shape {(m, k)} and scale_tril of {(m, k, k)}"
        if (
            np.triu(scale_tril, 1).any()
            or not (np.diagonal(scale_tril, axis1=1, axis2=2) > 0).all()
        ):
            return "should hold lower-triangular scale_tril with a positive diagonal"
        return None


class Stored(Spec):
    """A torch object stored as tensors (``module_``, ``optimizer_``); the
    format rebuilds and checks it, so it never appears among the attributes."""

    def check(self, value, context):
        return None


def check_attributes(schema, attributes, params, fitted, nested=None):
    """Refuse unknown, missing and invalid fitted attributes (raises Invalid).

    ``schema`` maps each attribute name to its spec; ``nested`` is the rebuilt
    nested estimator, if any, for the attributes that mirror it. Returns the
    attributes, with those a spec derives filled in where a file (written
    before they existed) lacks them.
    """
    attributes = dict(attributes)
    stored = {name for name, spec in schema.items() if isinstance(spec, Stored)}
    for name in attributes:
        spec = schema.get(name)
        if spec is None or name in stored or (not fitted and not spec.unfitted):
            raise Invalid(f"it sets the attribute {quote(name)}, which is not allowed")
    expected = [
        name
        for name, spec in schema.items()
        if name not in stored
        and not spec.optional
        and spec.derive is None  # (checked in order below)
        and (fitted or spec.unfitted)
        and (spec.unless is None or spec.unless not in attributes)
    ]
    for name, spec in schema.items():
        if name in attributes and spec.unless in attributes:
            raise Invalid(f"it sets both {quote(name)} and {quote(spec.unless)}")
    missing = sorted(set(expected) - set(attributes))
    if missing:
        raise Invalid(f"it lacks the fitted attributes {missing}")
    context = dict(params)
    for name, spec in schema.items():
        derived = None
        if spec.derive is not None and (fitted or spec.unfitted):
            derived = spec.derive(context)
            if name not in attributes:
                if derived is None:
                    raise Invalid(f"it lacks the fitted attributes {[name]}")
                attributes[name] = derived
        if name not in attributes:
            if spec.mirror and nested is not None and hasattr(nested, name):
                raise Invalid(f"its {name} differs from that of its nested model")
            problem = spec.check_absent(context) if fitted else None
            if problem:
                raise Invalid(f"attribute {name!r} {problem}")
            continue
        value = attributes[name]
        problem = spec.check(value, context)
        if problem:
            raise Invalid(f"attribute {name!r} {problem}")
        if derived is not None and not _same(value, derived):
            raise Invalid(
                f"attribute {name!r} is {quote(value)}, but fit gives {derived!r} "
                "for its parameters and attributes"
            )
        if (
            spec.mirror
            and nested is not None
            and not _same(value, getattr(nested, name, None))
        ):
            raise Invalid(f"its {name} differs from that of its nested model")
        context[name] = value
    return attributes


def derived_mismatch(schema, attributes, params):
    """The attributes, of a fitted estimator about to be saved, that differ
    from what their spec derives (``set_params`` changed what fit read)."""
    context, changed = dict(params), []
    for name, spec in schema.items():
        if name not in attributes:
            continue
        derived = None if spec.derive is None else spec.derive(context)
        if derived is not None and not _same(attributes[name], derived):
            changed.append(name)
        elif not spec.agrees(attributes[name], context):
            changed.append(name)
        context[name] = attributes[name]
    return changed


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    return type(a) is type(b) and a == b
