"""A fitted table encoder as plain data, for skvae's file format.

:func:`tabular_state` turns a fitted :class:`~skvae._tabular.TabularEncoder`
into plain values (dicts, lists, str, bool, int, float, NumPy arrays and
dtypes) that the codec writes as tagged JSON; :func:`tabular_from_state`
checks such values and rebuilds the encoder.

Only the encoder's own fields and the column dtypes are handled here. What a
kind of column stores, and the checks on it, are declared by the kind itself
in :mod:`skvae._columns` (``STORED``, ``DERIVED``, ``accepts_dtype``,
``frame_only``, ``state`` and ``from_state``): this file iterates over
:data:`~skvae._columns.KINDS` and names none of them.

Nothing is looked up by a name from a file but in fixed lists: the column
kinds in ``KINDS``, the pandas extension dtypes in :data:`EXTENSION_DTYPES`.
"""

import numpy as np

from .._columns import KINDS, NUMERIC_KINDS
from .._likelihoods import COVARIANCES
from .._optional import import_optional
from .._tabular import TabularEncoder, resolve_numeric
from ._messages import quote, shorten

__all__ = ["EXTENSION_DTYPES", "encoded_width", "tabular_state", "tabular_from_state"]

#: pandas extension dtypes a column may have, by ``str(dtype)``
EXTENSION_DTYPES = frozenset(
    [f"Int{bits}" for bits in (8, 16, 32, 64)]
    + [f"UInt{bits}" for bits in (8, 16, 32, 64)]
    + ["Float32", "Float64", "boolean", "string", "str", "string[pyarrow]"]
)

_KIND_CLASSES = {cls.__name__: cls for cls in KINDS}
_ENCODER_FIELDS = {
    "allow_missing",
    "numeric",
    "covariance",
    "columns_",
    "frame_",
    "order_",
    "kinds_",
}
_FLOAT_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def encoded_width(encoder):
    """Number of columns of the matrix ``encoder.transform`` returns."""
    width = sum(kind.width for kind in encoder.kinds_)
    return width + (encoder.n_columns if encoder.allow_missing else 0)


def fitted_with(tabular):
    """The estimator parameters a model with this table encoder was fit with."""
    return {
        "missing": "mask" if tabular.allow_missing else "error",
        "numeric_scaling": tabular.numeric,
        "covariance": tabular.covariance,
        "likelihood": "gaussian",  # the only one fit accepts for tables
    }


def tabular_mismatch(params, tabular):
    """The parameters that differ from those a model with ``tabular`` was fit with."""
    given = dict(params)
    if isinstance(given.get("numeric_scaling"), str):  # "auto": what fit made of it
        given["numeric_scaling"] = resolve_numeric(
            given["numeric_scaling"], tabular.frame_
        )
    return [
        f"{key}={quote(params.get(key))}"
        for key, value in fitted_with(tabular).items()
        if not (isinstance(given.get(key), str) and given.get(key) == value)
    ]


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
    cls = type(kind)
    name = cls.__name__
    if _KIND_CLASSES.get(name) is not cls:
        raise TypeError(f"cannot save column {column!r}: unknown kind {name}.")
    expected = {"dtype", *cls.STORED, *cls.DERIVED}
    if set(vars(kind)) != expected:
        raise TypeError(
            f"cannot save column {column!r}: its {name} has the attributes "
            f"{sorted(vars(kind))}, expected {sorted(expected)}."
        )
    return {"kind": name, "dtype": _dtype_state(kind.dtype, column), **kind.state()}


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
        raise ValueError(
            f"the table encoder's numeric scaling {quote(numeric)} is unknown"
        )
    # written before covariance existed: the diagonal model of then
    covariance = state.get("covariance", "diagonal")
    if type(covariance) is not str or covariance not in COVARIANCES:
        raise ValueError(
            f"the table encoder's covariance {quote(covariance)} is unknown"
        )
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
            _check_column_name(column)
    else:
        float_dtype = state.get("float_dtype")
        if not isinstance(float_dtype, np.dtype) or float_dtype not in _FLOAT_DTYPES:
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


def _check_column_name(name):
    if not isinstance(name, str | int | float | bool | tuple | type(None)):
        raise ValueError(f"the column name {quote(name)} is not hashable")
    try:
        hash(name)
    except TypeError:
        raise ValueError(f"the column name {quote(name)} is not hashable") from None


def _expect_dict(value, required, optional, where):
    if type(value) is not dict:
        raise ValueError(f"{where} is not a dict")
    keys = set(value)
    if not required <= keys <= required | optional:
        raise ValueError(
            f"{where} has the fields {quote(sorted(map(str, keys)))}, expected "
            f"{sorted(required)}"
            + (f" and optionally {sorted(optional)}" if optional else "")
        )


def _kind_from_state(state, column, encoder):
    where = f"column {quote(column)}"
    name = state.get("kind") if type(state) is dict else None
    if type(name) is not str or name not in _KIND_CLASSES:
        raise ValueError(
            f"{where} has the kind {quote(name)}, which is not one of "
            f"{', '.join(sorted(_KIND_CLASSES))}"
        )
    cls = _KIND_CLASSES[name]
    _expect_dict(state, {"kind", "dtype", *cls.STORED}, set(), where)
    dtype = _dtype_from_state(state["dtype"], where)
    if cls in NUMERIC_KINDS.values() and cls is not NUMERIC_KINDS[encoder.numeric]:
        raise ValueError(
            f"{where} is a {name} column, but the encoder scales numeric columns "
            f"with {encoder.numeric!r}"
        )
    if not encoder.frame_ and cls.frame_only:
        raise ValueError(f"{where} is a {name} column in an encoder fitted on an array")
    if not encoder.frame_ and dtype != encoder.float_dtype_:
        raise ValueError(
            f"{where} has dtype {dtype}, not the array's {encoder.float_dtype_}"
        )
    if not cls.accepts_dtype(dtype):
        raise ValueError(
            f"{where} has dtype {dtype}, which a {name} column cannot have"
        )
    return cls.from_state(dtype, state, where)


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
                f"{where} has the dtype {quote(name)}, which is not one of the pandas "
                f"dtypes skvae files may name ({', '.join(sorted(EXTENSION_DTYPES))})"
            )
        try:
            return pd.api.types.pandas_dtype(name)
        except (ImportError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{where}: pandas cannot build the dtype {name!r} ({shorten(exc)})"
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
        raise ValueError(
            f"{where} has categories of another dtype ({shorten(exc)})"
        ) from None
    if index.hasnans:
        raise ValueError(f"{where} has a missing value among its categories")
    if not index.is_unique:
        raise ValueError(f"{where} has duplicate categories")
    return pd.CategoricalDtype(index, ordered=ordered)
