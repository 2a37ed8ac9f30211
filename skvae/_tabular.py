"""Tables with mixed column types and missing values, as float matrices.

:class:`TabularEncoder` turns a table (a pandas DataFrame with numeric,
integer, boolean and categorical columns, or a float array) into the float
matrix the autoencoder trains on, and builds the matching
:class:`~skvae.MixedLikelihood`. It also turns decoder means back into a
table of the same columns and dtypes. Each kind of column is one small class
in :mod:`skvae._columns` (how to encode it, decode it, which likelihood
scores it and what files store of it).

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

from ._columns import (  # noqa: F401  (the kinds: also where old pickles look)
    KINDS,
    NUMERIC_KINDS,
    _Boolean,
    _Categorical,
    _few,
    _is_number,
    _Numeric,
    _Quantile,
    as_float,
    check_dtype,
    column_kind,
    is_frame,
    isna,
)
from ._likelihoods import COVARIANCES, LIKELIHOODS, make_likelihood
from ._mixed import MixedLikelihood
from ._optional import import_optional

__all__ = [
    "TabularEncoder",
    "needs_tabular",
    "KINDS",
    "NUMERIC_KINDS",
    "resolve_numeric",
    "COVARIANCES",  # re-exported from _likelihoods for the table file format
]


def resolve_numeric(numeric_scaling, frame):
    """The scaling of a table's numeric columns that ``numeric_scaling``
    gives: ``"auto"`` is ``"quantile"`` for a DataFrame (``frame``) and
    ``"standard"`` for an array; the others are themselves."""
    if numeric_scaling == "auto":
        return "quantile" if frame else "standard"
    return numeric_scaling


def needs_tabular(X, allow_missing, numeric="standard", numbers_as_table=False):
    """Whether X must go through :class:`TabularEncoder` rather than check_array.

    True when missing values are allowed, when numeric columns are not
    modelled as given (``numeric == "quantile"``), or when X is a DataFrame
    that is a table: one with a boolean, categorical, object or string
    column, or, with ``numbers_as_table`` (the estimators' default Gaussian
    likelihood on the MLP), any DataFrame, its columns then scaled one by
    one whatever their dtypes.
    """
    if allow_missing or numeric == "quantile":
        return True
    if not is_frame(X):
        return False
    if not all(_is_number(d) for d in X.dtypes):
        return True
    return numbers_as_table


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
        kinds = [
            column_kind(column, dtype, frame=self.frame_, numeric=self.numeric)
            for column, dtype in zip(columns, dtypes, strict=True)
        ]
        # Block order: numeric, boolean, then each categorical column.
        self.order_ = sorted(range(len(kinds)), key=lambda j: kinds[j].block_rank)
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
            missing = np.asarray(isna(column), dtype=bool)
            if missing.any():
                raise ValueError(
                    f"Input X contains NaN or missing values (column {name!r}); "
                    "use missing='mask' to train on incomplete rows."
                )

    def _all_numeric(self):
        """Whether every column is numeric, so that an array (its columns
        in the fitted order) can stand for the fitted DataFrame."""
        return all(isinstance(kind, _Numeric) for kind in self.kinds_)

    def transform(self, X, owner="TabularEncoder", handle_unknown="error"):
        """Encode X as a float matrix, with observation indicators if allowed.

        ``owner`` names the estimator in error messages. A category not seen
        in fit is an error with ``handle_unknown="error"``; with
        ``"missing"`` (which needs ``allow_missing``) it is encoded as a
        missing value.
        """
        if handle_unknown not in ("error", "missing"):
            raise ValueError(
                "handle_unknown must be 'error' or 'missing', got "
                f"{handle_unknown!r}."
            )
        frame = is_frame(X)
        if self.frame_ and not (not frame and self._all_numeric()):
            if not frame:
                raise TypeError(
                    f"{owner} was fitted on a DataFrame, whose columns it encodes "
                    "one by one; pass a DataFrame with the same columns, not "
                    f"{type(X).__name__}."
                )
            columns = [X.iloc[:, j] for j in range(X.shape[1])]
            dtype = np.float64
        else:
            X, frame = self._check_array(X), False
            columns = [X[:, j] for j in range(X.shape[1])]
            # a table's encoding is float64, whether its rows come as a frame
            dtype = np.float64 if self.frame_ else X.dtype
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
            kind, column, name = self.kinds_[j], columns[j], self.columns_[j]
            if frame:
                check_dtype(column.dtype, name)
                if isinstance(kind, _Boolean):
                    kind.check_column(column, name)
            if isinstance(kind, _Categorical):
                block, seen = kind.encode_series(column)
                unknown = kind.unknown(column, seen)
                if unknown and not (
                    handle_unknown == "missing" and self.allow_missing
                ):
                    raise ValueError(
                        f"Found unknown categories {_few(unknown)} in column "
                        f"{name!r} during transform; the categories seen in fit "
                        f"are {_few(kind.categories)}. Use handle_unknown="
                        "'missing' (with missing='mask') to treat them as "
                        "missing values."
                    )
            else:
                values = as_float(column) if frame else column.astype(np.float64)
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
