"""Tables with mixed column types and missing values, as float matrices.

:class:`TabularEncoder` turns a table (a pandas DataFrame with numeric,
integer, boolean and categorical columns, or a float array) into the float
matrix the autoencoder trains on, and builds the matching
:class:`~skvae.MixedLikelihood`. It also turns decoder means back into a
table of the same columns and dtypes. Each kind of column is one small class
here (how to encode it, decode it and which likelihood scores it), so no
other module tests column types.

Layout of the encoded matrix: the standardized numeric and integer columns
(one Gaussian block with a learned scale per column), then the booleans as
0/1 (one Bernoulli block), then each categorical column one-hot over the
categories seen in fit (one categorical block each); with missing values
allowed, one observation indicator (1 observed, 0 missing) per column
follows, in the same order. Missing entries are encoded as 0 (the mean of a
standardized column, no category), so the encoder sees the indicator and a
neutral value, and the masked likelihood skips them.
"""

import numpy as np

from ._likelihoods import COVARIANCES, LIKELIHOODS, make_likelihood
from ._mixed import CategoricalLikelihood, MixedLikelihood
from ._optional import import_optional

__all__ = [
    "TabularEncoder",
    "needs_tabular",
    "KINDS",
    "NUMERIC_KINDS",
    "COVARIANCES",  # re-exported from _likelihoods for the table file format
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


def needs_tabular(X, allow_missing, numeric="standard"):
    """Whether X must go through :class:`TabularEncoder` rather than check_array.

    True when missing values are allowed, when numeric columns are not
    modelled as given (``numeric != "standard"``), or when X is a DataFrame
    with a boolean, categorical, object or string column.
    """
    if allow_missing or numeric != "standard":
        return True
    return is_frame(X) and not all(_is_number(d) for d in X.dtypes)


class _Numeric:
    """A float or integer column, standardized; ints come back rounded."""

    #: the likelihood of the column: an alias of ``make_likelihood`` or an
    #: object it copies; consecutive columns of one alias share a block
    likelihood = "gaussian"

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

    likelihood = "bernoulli"

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

    def decode(self, block):
        return block[:, 0] > 0.5


class _Categorical:
    """A categorical, object or string column, one-hot over the fit categories."""

    likelihood = CategoricalLikelihood()  # a block of its own per column

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

        codes = pd.Categorical(series, categories=self.categories).codes
        out = np.zeros((len(codes), self.width))
        seen = codes >= 0
        out[np.flatnonzero(seen), codes[seen]] = 1.0
        return out, seen

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
        raise ValueError(f"{where} has an invalid {field} {_short(value)}")
    return value


def _short(value, limit=200):
    """``repr(value)``, cut to about ``limit`` characters (values from files)."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit]) + f"... ({len(value)} characters)"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


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


def _as_float(series):
    """A numeric or boolean pandas column as float64, missing values as NaN."""
    return series.to_numpy(dtype=np.float64, na_value=np.nan)


class TabularEncoder:
    """Encode a table as floats for the autoencoder, and decode it back.

    Parameters
    ----------
    allow_missing : bool, default=False
        Allow missing values (NaN, ``pd.NA``, None) and append one
        observation indicator per column to the encoded matrix. When False,
        a missing value is an error.
    numeric : {"standard", "quantile"}, default="standard"
        How numeric and integer columns are scaled: ``"standard"`` subtracts
        the mean and divides by the standard deviation; ``"quantile"`` maps
        each column through its empirical quantiles to a standard normal,
        for skewed or multi-modal columns.
    covariance : {"diagonal", "full", "auto"}, default="diagonal"
        Covariance of the Gaussian likelihood of the numeric columns:
        :class:`~skvae.GaussianLikelihood` (one scale per column),
        :class:`~skvae.FullCovarianceGaussianLikelihood`, or the latter up to
        ``AUTO_FULL_MAX`` (:mod:`skvae._likelihoods`) numeric columns and the
        former beyond.

    Examples
    --------
    >>> import pandas as pd
    >>> from skvae._tabular import TabularEncoder
    >>> df = pd.DataFrame({"x": [1.0, 2.0, 3.0], "c": ["a", "b", "a"],
    ...                    "b": [True, False, True]})
    >>> enc = TabularEncoder().fit(df)
    >>> enc.transform(df).shape
    (3, 4)
    >>> enc.inverse_transform(enc.transform(df)).equals(df)
    True
    """

    def __init__(self, allow_missing=False, numeric="standard", covariance="diagonal"):
        self.allow_missing = allow_missing
        self.numeric = numeric
        self.covariance = covariance

    def __setstate__(self, state):
        # pickled before covariance existed: the diagonal model of then
        self.__dict__.update({"covariance": "diagonal", **state})

    # ------------------------------------------------------------- fitting

    def fit(self, X):
        """Learn the columns' kinds, scales and categories from X."""
        if is_frame(X):
            self.columns_ = list(X.columns)
            self.frame_ = True
            columns = [X.iloc[:, j] for j in range(X.shape[1])]
            dtypes = list(X.dtypes)
        else:
            X = self._check_array(X)
            self.columns_ = list(range(X.shape[1]))
            self.frame_ = False
            self.float_dtype_ = X.dtype
            columns = [X[:, j] for j in range(X.shape[1])]
            dtypes = [X.dtype] * X.shape[1]
        if not columns or len(columns[0]) == 0:
            raise ValueError(
                "Found array with 0 sample(s) or 0 feature(s) while a minimum of "
                "1 is required."
            )
        if self.numeric not in NUMERIC_KINDS:
            raise ValueError(
                f"numeric must be one of {sorted(NUMERIC_KINDS)}, got {self.numeric!r}."
            )
        if self.covariance not in COVARIANCES:
            raise ValueError(
                f"covariance must be one of {sorted(COVARIANCES)}, "
                f"got {self.covariance!r}."
            )
        numeric = NUMERIC_KINDS[self.numeric]
        kinds = []
        for column, dtype in zip(columns, dtypes, strict=True):
            if not self.frame_:
                kinds.append(numeric(column.astype(np.float64), dtype))
            elif _is_boolean(dtype) or _holds_booleans(column):
                kinds.append(_Boolean(_as_float(column), dtype))
            elif _is_number(dtype):
                kinds.append(numeric(_as_float(column), dtype))
            else:
                kinds.append(_Categorical(column))
        # Block order: numeric, boolean, then each categorical column.
        rank = {_Numeric: 0, _Quantile: 0, _Boolean: 1, _Categorical: 2}
        self.order_ = sorted(range(len(kinds)), key=lambda j: rank[type(kinds[j])])
        self.kinds_ = kinds
        self._check_missing(columns)
        return self

    @property
    def n_columns(self):
        """Number of columns of the table."""
        return len(self.kinds_)

    def likelihood(self):
        """The :class:`~skvae.MixedLikelihood` of the encoded matrix.

        Consecutive columns (in block order) whose kind names the same alias
        form one block, built by :func:`~skvae._likelihoods.make_likelihood`
        for that many columns, with ``covariance`` where the alias has it
        (the Gaussian numeric block); each categorical column is a block.
        """
        groups = []  # [alias or likelihood object, size, n_variables]
        for j in self.order_:
            kind = self.kinds_[j]
            if groups and isinstance(kind.likelihood, str) and (
                groups[-1][0] == kind.likelihood
            ):
                groups[-1][1] += kind.width
                groups[-1][2] += 1
            else:
                groups.append([kind.likelihood, kind.width, 1])
        likelihoods = []
        for alias, size, _ in groups:
            chosen = isinstance(alias, str) and self.covariance in (
                LIKELIHOODS[alias].covariances
            )
            likelihoods.append(
                make_likelihood(
                    alias,
                    covariance=self.covariance if chosen else "diagonal",
                    n_features=size,
                )
            )
        return MixedLikelihood(
            tuple(likelihoods),
            tuple(size for _, size, _ in groups),
            n_variables=tuple(v for _, _, v in groups),
            masked=self.allow_missing,
        )

    # ------------------------------------------------------------ encoding

    def _check_array(self, X):
        """A 2-D float array, refused if it holds what the encoder cannot take.

        The estimators check arrays with scikit-learn's ``check_array`` before
        they get here (this module is below the scikit-learn face); this is
        the encoder's own guard when it is used directly.
        """
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"Expected a 2-D array, got {X.ndim}-D.")
        if X.dtype not in (np.float32, np.float64):
            if X.dtype.kind not in "biuf":
                raise ValueError(f"Expected numeric values, got dtype {X.dtype}.")
            X = X.astype(np.float64)
        if np.isinf(X).any() or (not self.allow_missing and np.isnan(X).any()):
            raise ValueError("Input X contains infinity or NaN.")
        return X

    def _check_missing(self, columns):
        if self.allow_missing:
            return
        for name, column in zip(self.columns_, columns, strict=True):
            missing = np.asarray(_isna(column), dtype=bool)
            if missing.any():
                raise ValueError(
                    f"Input X contains NaN or missing values (column {name!r}); "
                    "use missing='mask' to train on incomplete rows."
                )

    def transform(self, X, owner="TabularEncoder"):
        """Encode X as a float matrix, with observation indicators if allowed.

        ``owner`` names the estimator in error messages.
        """
        if self.frame_:
            if not is_frame(X):
                raise TypeError(
                    f"{owner} was fitted on a DataFrame, whose columns it encodes "
                    "one by one; pass a DataFrame with the same columns, not "
                    f"{type(X).__name__}."
                )
            columns = [X.iloc[:, j] for j in range(X.shape[1])]
            dtype = np.float64
        else:
            X = self._check_array(X)
            columns = [X[:, j] for j in range(X.shape[1])]
            dtype = X.dtype
        if len(columns) != self.n_columns:
            raise ValueError(
                f"X has {len(columns)} features, but {owner} is expecting "
                f"{self.n_columns} features as input."
            )
        if len(columns[0]) == 0:
            raise ValueError(
                "Found array with 0 sample(s) while a minimum of 1 is required."
            )
        self._check_missing(columns)
        blocks, observed = [], []
        for j in self.order_:
            kind, column = self.kinds_[j], columns[j]
            if isinstance(kind, _Categorical):
                block, seen = kind.encode_series(column)
            else:
                values = _as_float(column) if self.frame_ else column.astype(np.float64)
                if np.isinf(values).any():
                    raise ValueError(
                        f"Input X contains infinity (column {self.columns_[j]!r})."
                    )
                seen = ~np.isnan(values)
                block = np.where(seen, values, 0.0)
                block = kind.encode(block)
                block[~seen] = 0.0
            blocks.append(block)
            observed.append(seen)
        if self.allow_missing:
            blocks.append(np.stack(observed, axis=1).astype(np.float64))
        return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=dtype)

    def inverse_transform(self, X, dtype=np.float64):
        """Decode the data columns of an encoded matrix back into a table.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_encoded)
            Decoder means (the observation indicators, if any, are not part
            of them).
        dtype : numpy dtype, default=np.float64
            Dtype of the output when the encoder was fitted on an array.

        Returns
        -------
        table : DataFrame or ndarray
            A DataFrame with the fitted columns and dtypes when fitted on a
            DataFrame; an array otherwise.
        """
        decoded, start = {}, 0
        for j in self.order_:
            kind = self.kinds_[j]
            block = X[:, start : start + kind.width]
            start += kind.width
            decoded[j] = block
        if not self.frame_:
            return np.stack(
                [self.kinds_[j].decode(decoded[j]) for j in range(self.n_columns)],
                axis=1,
            ).astype(dtype, copy=False)
        pd = import_optional("pandas")

        index = pd.RangeIndex(len(X))
        series = {}
        for j, kind in enumerate(self.kinds_):
            name = self.columns_[j]
            if isinstance(kind, _Categorical):
                series[j] = kind.decode_series(decoded[j], name, index)
            else:
                series[j] = pd.Series(
                    kind.decode(decoded[j]), name=name, index=index
                ).astype(kind.dtype)
        frame = pd.concat([series[j] for j in range(self.n_columns)], axis=1)
        frame.columns = pd.Index(self.columns_)
        return frame


def _isna(column):
    if isinstance(column, np.ndarray):  # arrays need no pandas
        return np.isnan(column)
    return import_optional("pandas").isna(column)
