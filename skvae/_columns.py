"""The kinds of table column: how each is encoded, decoded and stored.

Each kind of column is one small class (numeric, quantile-scaled numeric,
boolean, categorical) that knows which columns it takes, how to encode them
as floats and decode them back, which likelihood scores them, which fitted
values a file stores of it, and its type in SDMetrics' metadata.
:func:`column_kind` picks the kind of a column;
:class:`skvae._tabular.TabularEncoder` and the file format
(``skvae._persistence``) iterate over :data:`KINDS` and name no kind, so
adding a kind of column touches this file only.
"""

import numpy as np

from ._mixed import CategoricalLikelihood
from ._optional import import_optional
from ._quoting import quote

__all__ = [
    "KINDS",
    "NUMERIC_KINDS",
    "check_dtype",
    "column_kind",
    "is_frame",
    "isna",
    "as_float",
]


def is_frame(X):
    return hasattr(X, "dtypes") and hasattr(X, "columns") and hasattr(X, "iloc")


# NumPy dtypes are told apart without pandas, so that arrays (missing="mask"
# included) need no pandas; pandas' own dtypes need pandas anyway.


def _is_boolean(dtype):
    if isinstance(dtype, np.dtype):
        return dtype.kind == "b"
    return import_optional("pandas").api.types.is_bool_dtype(dtype)


def _is_number(dtype):
    if isinstance(dtype, np.dtype):
        return dtype.kind in "iufc"  # as pandas' is_numeric_dtype
    is_numeric = import_optional("pandas").api.types.is_numeric_dtype
    return is_numeric(dtype) and not _is_boolean(dtype)


class _Numeric:
    """A float or integer column, standardized; ints come back rounded."""

    #: where its block goes in the encoded matrix: numeric, boolean, categorical
    block_rank = 0

    #: the likelihood of the column: an alias of ``make_likelihood`` or an
    #: object it copies; consecutive columns of one alias share a block
    likelihood = "gaussian"

    #: the column's type in SDMetrics' metadata (skvae.quality_report)
    sdtype = "numerical"

    #: fitted values stored in files, and those recomputed on load
    STORED = ("mean", "scale", "low", "high")
    DERIVED = ("is_integer", "width")
    #: whether only a DataFrame column (not an array's) can be of this kind
    frame_only = False

    @staticmethod
    def accepts_dtype(dtype):
        """Whether a column of ``dtype`` can be of this kind."""
        pd = import_optional("pandas")

        types = pd.api.types
        return types.is_numeric_dtype(dtype) and not types.is_bool_dtype(dtype)

    def state(self):
        """The stored fitted values, by field name."""
        return {field: getattr(self, field) for field in self.STORED}

    @classmethod
    def from_state(cls, dtype, state, where):
        """The kind ``state`` describes for a column of ``dtype``, every value
        checked against what ``fit`` could produce; ValueError otherwise."""
        kind = cls.__new__(cls)
        kind.dtype, kind.width = dtype, 1
        kind.is_integer = _is_integer(dtype)
        for field in _Numeric.STORED:
            setattr(kind, field, _stored_float(state, field, where))
        if not kind.scale > 0:
            raise ValueError(f"{where} has a scale {kind.scale!r} that is not positive")
        if not kind.low <= kind.high:
            raise ValueError(
                f"{where} has a range [{kind.low}, {kind.high}] that is empty"
            )
        low, high = _value_range(dtype)
        if not low <= kind.low <= kind.high <= high:
            raise ValueError(
                f"{where} has a range [{kind.low}, {kind.high}] beyond what its "
                f"dtype {dtype} holds"
            )
        if kind.is_integer and not (kind.low.is_integer() and kind.high.is_integer()):
            raise ValueError(f"{where} is an integer column with fractional bounds")
        return kind

    def __init__(self, values, dtype):
        self.dtype = dtype
        self.is_integer = _is_integer(dtype)
        finite = values[~np.isnan(values)]
        self.mean = float(finite.mean()) if finite.size else 0.0
        std = float(finite.std()) if finite.size else 0.0
        self.scale = std if std > 0 and np.isfinite(std) else 1.0
        self.low = float(finite.min()) if finite.size else 0.0
        self.high = float(finite.max()) if finite.size else 0.0
        self.width = 1

    def encode(self, values):
        return ((values - self.mean) / self.scale)[:, None]

    def decode(self, block):
        values = block[:, 0].astype(np.float64) * self.scale + self.mean
        if self.is_integer:
            values = np.clip(np.round(values), self.low, self.high)
        return values


class _Quantile(_Numeric):
    """A float or integer column mapped through its quantiles to a standard normal.

    The fitted quantiles at ``references`` (evenly spaced probabilities)
    define a monotone map: a value's position among them (linear
    interpolation; tied quantiles give the middle of their range, as in
    scikit-learn's ``QuantileTransformer``) is a probability, and the
    standard normal quantile of that probability is the encoded value.
    Skewed, heavy-tailed and multi-modal columns become standard normal, which
    a Gaussian likelihood fits well; decoding maps back through the same
    quantiles, so decoded values stay within the range seen in fit.

    The probabilities are squeezed affinely from [0, 1] into
    [1 / (2 n), 1 - 1 / (2 n)] for n fitted values (the smallest and largest
    value at their mid-rank positions, about 3.5 standard deviations out for
    n = 2000), rather than clipped far into the tails, so the extremes are
    not outliers for the Gaussian likelihood and decoding inverts encoding.
    """

    #: at most this many quantiles are stored per column
    n_quantiles = 1000

    STORED = (*_Numeric.STORED, "references", "quantiles", "margin")

    @classmethod
    def from_state(cls, dtype, state, where):
        kind = super().from_state(dtype, state, where)
        references, quantiles = state["references"], state["quantiles"]
        n = len(references) if isinstance(references, np.ndarray) else 0
        if (
            not isinstance(references, np.ndarray)
            or references.dtype != np.float64
            or references.ndim != 1
            or not 2 <= n <= cls.n_quantiles
            or not np.array_equal(references, np.linspace(0.0, 1.0, n))
        ):
            raise ValueError(
                f"{where} needs its quantile references at 2 to {cls.n_quantiles} "
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
        margin = _stored_float(state, "margin", where)
        if not 0 < margin <= 0.5:
            raise ValueError(
                f"{where} has a quantile margin {margin!r} outside (0, 0.5]"
            )
        kind.references, kind.quantiles, kind.margin = references, quantiles, margin
        return kind

    def __init__(self, values, dtype):
        super().__init__(values, dtype)
        finite = values[~np.isnan(values)]
        n = max(min(self.n_quantiles, finite.size), 2)
        self.references = np.linspace(0.0, 1.0, n)
        quantiles = np.quantile(finite, self.references) if finite.size else np.zeros(n)
        self.quantiles = np.maximum.accumulate(quantiles)
        self.margin = 0.5 / max(finite.size, 1)

    def encode(self, values):
        from scipy.special import ndtri

        q, r = self.quantiles, self.references
        # the mean of the left- and right-continuous interpolations, so a
        # value equal to several quantiles maps to the middle of their range
        p = 0.5 * (np.interp(values, q, r) - np.interp(-values, -q[::-1], -r[::-1]))
        return ndtri(self.margin + (1.0 - 2.0 * self.margin) * p)[:, None]

    def decode(self, block):
        from scipy.special import ndtr

        width = 1.0 - 2.0 * self.margin
        p = ndtr(block[:, 0].astype(np.float64)) - self.margin
        p = np.clip(p / width, 0.0, 1.0) if width > 0 else np.full_like(p, 0.5)
        values = np.interp(p, self.references, self.quantiles)
        if self.is_integer:
            values = np.clip(np.round(values), self.low, self.high)
        return values


class _Boolean:
    """A boolean column as 0/1, scored by a Bernoulli."""

    #: where its block goes in the encoded matrix: numeric, boolean, categorical
    block_rank = 1

    likelihood = "bernoulli"

    sdtype = "boolean"

    STORED = ()
    DERIVED = ("width",)
    frame_only = True

    @staticmethod
    def accepts_dtype(dtype):
        pd = import_optional("pandas")

        # object: booleans with missing values
        return pd.api.types.is_bool_dtype(dtype) or dtype == np.dtype(object)

    def state(self):
        return {}

    @classmethod
    def from_state(cls, dtype, state, where):
        kind = cls.__new__(cls)
        kind.dtype, kind.width = dtype, 1
        return kind

    def __init__(self, values, dtype):
        self.dtype = dtype
        self.width = 1

    def encode(self, values):
        return values[:, None]

    def check_column(self, column, name):
        """Refuse a column that is not boolean (True/False and missing)."""
        if _is_boolean(column.dtype):
            return
        values = column.dropna() if hasattr(column, "dropna") else column
        odd = [v for v in values if not isinstance(v, bool | np.bool_)]
        if odd:
            raise ValueError(
                f"column {name!r} was fitted as a boolean column but holds "
                f"non-boolean values such as {_few(odd)}; pass True/False "
                "(or missing values)."
            )

    def decode(self, block):
        return block[:, 0] > 0.5


class _Categorical:
    """A categorical, object or string column, one-hot over the fit categories."""

    #: where its block goes in the encoded matrix: numeric, boolean, categorical
    block_rank = 2

    likelihood = CategoricalLikelihood()  # a block of its own per column

    sdtype = "categorical"

    STORED = ("categories",)
    DERIVED = ("width",)
    frame_only = True

    @staticmethod
    def accepts_dtype(dtype):
        pd = import_optional("pandas")

        return isinstance(
            dtype, pd.CategoricalDtype | pd.StringDtype
        ) or dtype == np.dtype(object)

    def state(self):
        return {"categories": list(self.categories)}

    @classmethod
    def from_state(cls, dtype, state, where):
        pd = import_optional("pandas")

        categories = state["categories"]
        if type(categories) is not list or not categories:
            raise ValueError(f"{where} has no list of categories")
        if isinstance(dtype, pd.CategoricalDtype):
            if categories != list(dtype.categories):
                raise ValueError(f"{where} has categories that differ from its dtype's")
        elif not all(type(c) is str for c in categories):
            raise ValueError(
                f"{where} is a string column with categories that are not str"
            )
        elif len(set(categories)) != len(categories):
            raise ValueError(f"{where} has duplicate categories")
        kind = cls.__new__(cls)
        kind.dtype, kind.categories, kind.width = dtype, categories, len(categories)
        return kind

    def __init__(self, series):
        pd = import_optional("pandas")

        self.dtype = series.dtype
        if isinstance(series.dtype, pd.CategoricalDtype):
            categories = list(series.dtype.categories)
        else:
            values = series.dropna()
            types = sorted({type(v).__name__ for v in values})
            if series.dtype == object and "str" in types and len(types) > 1:
                raise TypeError(
                    f"column {series.name!r} mixes values of types "
                    f"{', '.join(types)}; a categorical column needs one type. "
                    "Convert it, for instance with astype(str)."
                )
            if not (
                pd.api.types.is_string_dtype(series.dtype)
                and all(isinstance(v, str) for v in values)
            ):
                raise TypeError(
                    f"column {series.name!r} has dtype {series.dtype}; skvae models "
                    "numeric, boolean, categorical and string columns (strings as "
                    "categories). Convert it, for instance with astype('category')."
                )
            categories = sorted(values.unique().tolist())
        if not categories:
            raise ValueError(
                f"column {series.name!r} has no observed value to learn categories "
                "from."
            )
        self.categories = categories
        self.width = len(categories)

    def encode_series(self, series):
        pd = import_optional("pandas")

        if not isinstance(self.dtype, pd.CategoricalDtype):
            values = series.dropna()
            odd = [v for v in values if not isinstance(v, str)]
            if odd:
                raise TypeError(
                    f"column {series.name!r} was fitted as a string column but "
                    f"holds non-str values such as {_few(odd)}; convert them "
                    "with astype(str) or fit on the same types."
                )
        # unseen values and missing ones get -1 (pd.Categorical warns on unseen)
        codes = pd.Index(self.categories).get_indexer(
            np.asarray(series, dtype=object)
        )
        out = np.zeros((len(codes), self.width))
        seen = codes >= 0
        out[np.flatnonzero(seen), codes[seen]] = 1.0
        return out, seen

    def unknown(self, series, seen):
        """The values of ``series`` outside the fitted categories (not missing)."""
        pd = import_optional("pandas")

        unseen = ~seen & ~np.asarray(pd.isna(series), dtype=bool)
        return list(pd.unique(series[unseen]))

    def decode_series(self, block, name, index):
        pd = import_optional("pandas")

        values = pd.Categorical.from_codes(
            block.argmax(axis=1), categories=self.categories
        )
        series = pd.Series(values, name=name, index=index)
        if isinstance(self.dtype, pd.CategoricalDtype):
            return series.astype(self.dtype)
        return series.astype(self.dtype)


# ------------------------------------------------------- stored state of kinds
#
# Each kind of column declares the fitted values the file format stores
# (``STORED``), those recomputed on load (``DERIVED``), the dtypes it accepts
# and whether only a DataFrame can produce it; ``from_state`` checks stored
# values against what ``fit`` could have produced and rebuilds the kind. The
# format (``skvae._persistence``) iterates over :data:`KINDS` and knows no kind
# by name, so adding a kind of column touches this file only.


def _stored_float(state, field, where):
    value = state[field]
    if type(value) is not float or not np.isfinite(value):
        raise ValueError(f"{where} has an invalid {field} {quote(value)}")
    return value


def _value_range(dtype):
    """The (low, high) range of values a numeric column of ``dtype`` holds."""
    pd = import_optional("pandas")

    numpy_dtype = getattr(dtype, "numpy_dtype", dtype)
    if pd.api.types.is_integer_dtype(numpy_dtype):
        info = np.iinfo(numpy_dtype)
        return float(info.min), float(info.max)
    info = np.finfo(numpy_dtype)
    return -float(info.max), float(info.max)


#: how numeric columns may be scaled, by the name users pass
NUMERIC_KINDS = {"standard": _Numeric, "quantile": _Quantile}
#: every kind of column, for code that must recognise them (the file format)
KINDS = (_Numeric, _Quantile, _Boolean, _Categorical)


def _is_integer(dtype):
    if isinstance(dtype, np.dtype):
        return dtype.kind in "iu"
    return import_optional("pandas").api.types.is_integer_dtype(dtype)


def _holds_booleans(series):
    """Whether an object column holds only True/False and missing values.

    pandas stores a boolean column with a missing value as ``object``; such a
    column is modelled as boolean, not as categories.
    """
    if series.dtype != object:
        return False
    values = series.dropna()
    return len(values) > 0 and all(isinstance(v, bool | np.bool_) for v in values)


def as_float(series):
    """A numeric or boolean pandas column as float64, missing values as NaN."""
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


def _few(values, limit=5):
    """At most ``limit`` of ``values``, each shortened, for an error message."""
    try:
        values = list(dict.fromkeys(values))  # each value once
    except TypeError:  # unhashable values
        values = list(values)
    shown = ", ".join(quote(v, 40) for v in values[:limit])
    return shown + (f", ... ({len(values)} in all)" if len(values) > limit else "")


def check_dtype(dtype, name):
    """Refuse the dtypes no kind of column takes: complex, dates, durations.

    pandas and NumPy count complex numbers as numeric and dates and
    durations convert to integers, which would be modelled as numbers
    without a word; scikit-learn's ``check_array`` refuses complex data too.
    """
    numpy_dtype = dtype if isinstance(dtype, np.dtype) else None
    if numpy_dtype is not None and numpy_dtype.kind == "c":
        raise ValueError(
            f"Complex data not supported: column {name!r} has dtype {dtype}."
        )
    kind = getattr(numpy_dtype, "kind", None)
    is_date = kind in ("m", "M")
    if not is_date and numpy_dtype is None:
        types = import_optional("pandas").api.types
        is_date = (
            types.is_datetime64_any_dtype(dtype)
            or types.is_timedelta64_dtype(dtype)
            or isinstance(dtype, import_optional("pandas").PeriodDtype)
        )
    if is_date:
        raise TypeError(
            f"column {name!r} has dtype {dtype}: dates and durations are not "
            "modelled as numbers without a choice of unit and origin; convert "
            "it to numbers first (for instance x.dt.total_seconds() for "
            "durations, or (x - x.min()).dt.total_seconds() or x.dt.year for "
            "dates)."
        )


def column_kind(column, dtype, *, frame, numeric):
    """The fitted kind of one column.

    Parameters
    ----------
    column : ndarray or pandas.Series
        The column's values.
    dtype : dtype
        Its dtype.
    frame : bool
        Whether the column comes from a DataFrame (an array's columns are all
        numeric).
    numeric : {"standard", "quantile"}
        How numeric columns are scaled (:data:`NUMERIC_KINDS`).
    """
    scaled = NUMERIC_KINDS[numeric]
    check_dtype(dtype, getattr(column, "name", None))
    if not frame:
        return scaled(column.astype(np.float64), dtype)
    if _is_boolean(dtype) or _holds_booleans(column):
        return _Boolean(as_float(column), dtype)
    if _is_number(dtype):
        return scaled(as_float(column), dtype)
    return _Categorical(column)


def isna(column):
    if isinstance(column, np.ndarray):  # arrays need no pandas
        return np.isnan(column)
    return import_optional("pandas").isna(column)
