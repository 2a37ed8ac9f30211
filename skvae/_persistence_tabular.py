"""A fitted table encoder as plain data, for skvae's file format.

:func:`tabular_state` turns a fitted :class:`~skvae._tabular.TabularEncoder`
into plain values (dicts, lists, str, bool, int, float, NumPy arrays and
NumPy dtypes) that :mod:`skvae._persistence` writes with its tagged JSON;
:func:`tabular_from_state` checks such values and rebuilds the encoder.

Nothing is looked up by a name from a file but in fixed lists: the column
kinds in :data:`skvae._tabular.KINDS`, the pandas extension dtypes in
:data:`EXTENSION_DTYPES` (built with ``pandas.api.types.pandas_dtype``). A
NumPy dtype stays a NumPy dtype (the file stores its string); a
``CategoricalDtype`` is stored as its categories, their dtype and whether
they are ordered. Every value is checked against what ``fit`` could have
produced (the kind of each column against its dtype, positive scales,
monotone quantiles at the fitted probabilities, unique categories...), and a
value that fails raises ``ValueError`` naming the column and the problem.
"""

import math

import numpy as np

from ._optional import import_optional
from ._tabular import (
    COVARIANCES,
    KINDS,
    NUMERIC_KINDS,
    TabularEncoder,
    _Categorical,
    _Quantile,
)

__all__ = ["EXTENSION_DTYPES", "encoded_width", "tabular_state", "tabular_from_state"]

#: pandas extension dtypes a column may have, by ``str(dtype)``
EXTENSION_DTYPES = frozenset(
    [f"Int{bits}" for bits in (8, 16, 32, 64)]
    + [f"UInt{bits}" for bits in (8, 16, 32, 64)]
    + ["Float32", "Float64", "boolean", "string", "str", "string[pyarrow]"]
)

_KIND_CLASSES = {cls.__name__: cls for cls in KINDS}
# The fitted values of each kind of column beyond its ``dtype``, and those
# derived from the others (recomputed on load, not stored).
_NUMERIC_FIELDS = ("mean", "scale", "low", "high")
_FIELDS = {
    "_Numeric": _NUMERIC_FIELDS,
    "_Quantile": (*_NUMERIC_FIELDS, "references", "quantiles", "margin"),
    "_Boolean": (),
    "_Categorical": ("categories",),
}
_DERIVED = {
    "_Numeric": ("is_integer", "width"),
    "_Quantile": ("is_integer", "width"),
    "_Boolean": ("width",),
    "_Categorical": ("width",),
}
_ENCODER_FIELDS = {
    "allow_missing",
    "numeric",
    "covariance",
    "columns_",
    "frame_",
    "order_",
    "kinds_",
}


def encoded_width(encoder):
    """Number of columns of the matrix ``encoder.transform`` returns."""
    width = sum(kind.width for kind in encoder.kinds_)
    return width + (encoder.n_columns if encoder.allow_missing else 0)


# -------------------------------------------------------------------- save


def tabular_state(encoder):
    """The fitted ``encoder`` as plain values; TypeError if it cannot be stored."""
    fields = set(vars(encoder))
    expected = _ENCODER_FIELDS | ({"float_dtype_"} if not encoder.frame_ else set())
    if fields != expected:
        raise TypeError(
            f"cannot save its TabularEncoder: it has the attributes {sorted(fields)}, "
            f"expected {sorted(expected)}."
        )
    state = {
        "allow_missing": encoder.allow_missing,
        "numeric": encoder.numeric,
        "covariance": encoder.covariance,
        "frame": encoder.frame_,
        "columns": list(encoder.columns_),
        "order": [int(j) for j in encoder.order_],
        "kinds": [
            _kind_state(kind, encoder.columns_[j])
            for j, kind in enumerate(encoder.kinds_)
        ],
    }
    if not encoder.frame_:
        state["float_dtype"] = encoder.float_dtype_
    return state


def _kind_state(kind, column):
    name = type(kind).__name__
    if _KIND_CLASSES.get(name) is not type(kind):
        raise TypeError(f"cannot save column {column!r}: unknown kind {name}.")
    expected = {"dtype", *_FIELDS[name], *_DERIVED[name]}
    if set(vars(kind)) != expected:
        raise TypeError(
            f"cannot save column {column!r}: its {name} has the attributes "
            f"{sorted(vars(kind))}, expected {sorted(expected)}."
        )
    state = {"kind": name, "dtype": _dtype_state(kind.dtype, column)}
    for field in _FIELDS[name]:
        value = getattr(kind, field)
        state[field] = list(value) if field == "categories" else value
    return state


def _dtype_state(dtype, column):
    """A column dtype as plain values: a NumPy dtype stays one, the others dicts."""
    pd = import_optional("pandas")

    if isinstance(dtype, np.dtype):
        return dtype
    if isinstance(dtype, pd.CategoricalDtype):
        state = {
            "categories": dtype.categories.to_numpy(),
            "categories_dtype": _dtype_state(dtype.categories.dtype, column),
            "ordered": bool(dtype.ordered),
        }
    else:
        state = {"extension": str(dtype)}
    try:
        same = _dtype_from_state(state, column) == dtype
    except ValueError:
        same = False
    if not same:
        raise TypeError(
            f"cannot save column {column!r}: its dtype {dtype} is not one the skvae "
            "file format stores (NumPy numeric, bool or object dtypes, "
            f"categoricals, and {', '.join(sorted(EXTENSION_DTYPES))})."
        )
    return state


# -------------------------------------------------------------------- load


def tabular_from_state(state):
    """The :class:`TabularEncoder` that ``state`` describes, every value checked.

    Raises
    ------
    ValueError
        Naming the first value that ``fit`` could not have produced.
    """
    _expect_dict(
        state,
        {"allow_missing", "numeric", "frame", "columns", "order", "kinds"},
        {"float_dtype", "covariance"},
        "the table encoder",
    )
    allow_missing, numeric, frame = (
        state["allow_missing"],
        state["numeric"],
        state["frame"],
    )
    if type(allow_missing) is not bool or type(frame) is not bool:
        raise ValueError("the table encoder's allow_missing and frame must be booleans")
    if type(numeric) is not str or numeric not in NUMERIC_KINDS:
        raise ValueError(f"the table encoder's numeric scaling {numeric!r} is unknown")
    # written before covariance existed: the diagonal model of then
    covariance = state.get("covariance", "diagonal")
    if type(covariance) is not str or covariance not in COVARIANCES:
        raise ValueError(f"the table encoder's covariance {covariance!r} is unknown")
    columns, kinds, order = state["columns"], state["kinds"], state["order"]
    if type(columns) is not list or not columns:
        raise ValueError("the table encoder has no list of columns")
    n = len(columns)
    if type(kinds) is not list or len(kinds) != n:
        raise ValueError(f"the table encoder needs one column kind per column ({n})")
    if (
        type(order) is not list
        or not all(type(j) is int for j in order)
        or sorted(order) != list(range(n))
    ):
        raise ValueError("the table encoder's column order is not a permutation")

    encoder = TabularEncoder(
        allow_missing=allow_missing, numeric=numeric, covariance=covariance
    )
    encoder.columns_ = columns
    encoder.frame_ = frame
    if frame:
        if "float_dtype" in state:
            raise ValueError("a table encoder fitted on a DataFrame has no float_dtype")
        for column in columns:
            _check_hashable(column)
    else:
        float_dtype = state.get("float_dtype")
        if not isinstance(float_dtype, np.dtype) or float_dtype not in (
            np.dtype(np.float64),
            np.dtype(np.float32),
        ):
            raise ValueError(
                "a table encoder fitted on an array needs a float_dtype of float32 "
                "or float64"
            )
        if columns != list(range(n)):
            raise ValueError("a table encoder fitted on an array numbers its columns")
        encoder.float_dtype_ = float_dtype
    encoder.kinds_ = [
        _kind_from_state(kind, columns[j], encoder) for j, kind in enumerate(kinds)
    ]
    encoder.order_ = order
    return encoder


def _check_hashable(name):
    try:
        hash(name)
    except TypeError:
        raise ValueError(f"the column name {name!r} is not hashable") from None


def _expect_dict(value, required, optional, where):
    if type(value) is not dict:
        raise ValueError(f"{where} is not a dict")
    keys = set(value)
    if not required <= keys <= required | optional:
        raise ValueError(
            f"{where} has the fields {sorted(map(str, keys))}, expected "
            f"{sorted(required)}"
            + (f" and optionally {sorted(optional)}" if optional else "")
        )


def _kind_from_state(state, column, encoder):
    where = f"column {column!r}"
    name = state.get("kind") if type(state) is dict else None
    if type(name) is not str or name not in _KIND_CLASSES:
        raise ValueError(
            f"{where} has the kind {name!r}, which is not one of "
            f"{', '.join(sorted(_KIND_CLASSES))}"
        )
    _expect_dict(state, {"kind", "dtype", *_FIELDS[name]}, set(), where)
    cls = _KIND_CLASSES[name]
    dtype = _dtype_from_state(state["dtype"], where)
    if cls in NUMERIC_KINDS.values() and cls is not NUMERIC_KINDS[encoder.numeric]:
        raise ValueError(
            f"{where} is a {name} column, but the encoder scales numeric columns "
            f"with {encoder.numeric!r}"
        )
    if not encoder.frame_ and (cls is _Categorical or name == "_Boolean"):
        raise ValueError(f"{where} is a {name} column in an encoder fitted on an array")
    if not encoder.frame_ and dtype != encoder.float_dtype_:
        raise ValueError(
            f"{where} has dtype {dtype}, not the array's {encoder.float_dtype_}"
        )
    if not _dtype_fits_kind(dtype, name):
        raise ValueError(
            f"{where} has dtype {dtype}, which a {name} column cannot have"
        )

    kind = cls.__new__(cls)
    kind.dtype = dtype
    kind.width = 1
    if name in ("_Numeric", "_Quantile"):
        _set_numeric(kind, state, where)
    if name == "_Quantile":
        _set_quantiles(kind, state, where)
    if name == "_Categorical":
        _set_categories(kind, state, where)
    return kind


def _dtype_fits_kind(dtype, name):
    pd = import_optional("pandas")

    types = pd.api.types
    if name == "_Boolean":  # object: booleans with missing values
        return types.is_bool_dtype(dtype) or dtype == np.dtype(object)
    if name == "_Categorical":
        return isinstance(
            dtype, pd.CategoricalDtype | pd.StringDtype
        ) or dtype == np.dtype(object)
    return types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)


def _float(state, field, where):
    value = state[field]
    if type(value) is not float or not math.isfinite(value):
        raise ValueError(f"{where} has an invalid {field} {value!r}")
    return value


def _set_numeric(kind, state, where):
    pd = import_optional("pandas")

    kind.mean = _float(state, "mean", where)
    kind.scale = _float(state, "scale", where)
    kind.low = _float(state, "low", where)
    kind.high = _float(state, "high", where)
    if not kind.scale > 0:
        raise ValueError(f"{where} has a scale {kind.scale!r} that is not positive")
    if not kind.low <= kind.high:
        raise ValueError(f"{where} has a range [{kind.low}, {kind.high}] that is empty")
    kind.is_integer = pd.api.types.is_integer_dtype(kind.dtype)


def _set_quantiles(kind, state, where):
    references, quantiles = state["references"], state["quantiles"]
    n = len(references) if isinstance(references, np.ndarray) else 0
    if (
        not isinstance(references, np.ndarray)
        or references.dtype != np.float64
        or references.ndim != 1
        or not 2 <= n <= _Quantile.n_quantiles
        or not np.array_equal(references, np.linspace(0.0, 1.0, n))
    ):
        raise ValueError(
            f"{where} needs its quantile references at 2 to {_Quantile.n_quantiles} "
            "evenly spaced probabilities from 0 to 1"
        )
    if (
        not isinstance(quantiles, np.ndarray)
        or quantiles.dtype != np.float64
        or quantiles.shape != (n,)
    ):
        raise ValueError(f"{where} needs {n} float64 quantiles, one per reference")
    if not np.isfinite(quantiles).all() or (np.diff(quantiles) < 0).any():
        raise ValueError(
            f"{where} has quantiles that are not finite and non-decreasing"
        )
    margin = _float(state, "margin", where)
    if not 0 < margin <= 0.5:
        raise ValueError(f"{where} has a quantile margin {margin!r} outside (0, 0.5]")
    kind.references, kind.quantiles, kind.margin = references, quantiles, margin


def _set_categories(kind, state, where):
    pd = import_optional("pandas")

    categories = state["categories"]
    if type(categories) is not list or not categories:
        raise ValueError(f"{where} has no list of categories")
    if isinstance(kind.dtype, pd.CategoricalDtype):
        if categories != list(kind.dtype.categories):
            raise ValueError(f"{where} has categories that differ from its dtype's")
    elif not all(type(c) is str for c in categories):
        raise ValueError(f"{where} is a string column with categories that are not str")
    elif len(set(categories)) != len(categories):
        raise ValueError(f"{where} has duplicate categories")
    kind.categories = categories
    kind.width = len(categories)


def _dtype_from_state(state, where):
    """A column dtype from :func:`_dtype_state`'s plain values."""
    pd = import_optional("pandas")

    if isinstance(state, np.dtype):
        if state.kind not in "biufO":
            raise ValueError(f"{where} has the dtype {state}, which no column can have")
        return state
    if type(state) is not dict:
        raise ValueError(f"{where} has no readable dtype")
    if "extension" in state:
        _expect_dict(state, {"extension"}, set(), f"{where}'s dtype")
        name = state["extension"]
        if type(name) is not str or name not in EXTENSION_DTYPES:
            raise ValueError(
                f"{where} has the dtype {name!r}, which is not one of the pandas "
                f"dtypes skvae files may name ({', '.join(sorted(EXTENSION_DTYPES))})"
            )
        try:
            return pd.api.types.pandas_dtype(name)
        except (ImportError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{where}: pandas cannot build the dtype {name!r} ({exc})"
            ) from None
    _expect_dict(
        state, {"categories", "categories_dtype", "ordered"}, set(), f"{where}'s dtype"
    )
    values, ordered = state["categories"], state["ordered"]
    categories_dtype = _dtype_from_state(
        state["categories_dtype"], f"{where}'s categories"
    )
    if isinstance(categories_dtype, pd.CategoricalDtype):
        raise ValueError(f"{where} has categories that are themselves categorical")
    if not isinstance(values, np.ndarray) or values.ndim != 1 or not len(values):
        raise ValueError(f"{where} has no array of categories")
    if type(ordered) is not bool:
        raise ValueError(f"{where} has an invalid 'ordered' flag")
    try:
        index = pd.Index(values, dtype=categories_dtype)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"{where} has categories of another dtype ({exc})") from None
    if index.hasnans:
        raise ValueError(f"{where} has a missing value among its categories")
    if not index.is_unique:
        raise ValueError(f"{where} has duplicate categories")
    return pd.CategoricalDtype(index, ordered=ordered)
