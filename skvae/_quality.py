"""Judging synthetic tables with SDMetrics: :func:`quality_report`.

The scores are SDMetrics' own (``pip install "skvae[report]"``): its
``QualityReport`` (Column Shapes and Column Pair Trends), ``NewRowSynthesis``
(synthetic rows that copy a real one) and, with held-out rows,
``DCROverfittingProtection`` (whether synthetic rows lie closer to the
training rows than to rows the model never saw). This module only checks the
inputs, draws the rows, writes SDMetrics' metadata from the fitted model's
column typing and collects the results; it computes no score itself.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted

from ._columns import _few, _is_boolean, _is_number, as_float, is_frame
from ._optional import import_optional
from ._quoting import shorten

__all__ = ["quality_report", "SyntheticQuality"]

#: the name of the one table in the metadata handed to SDMetrics
_TABLE = "table"

#: SDMetrics' names of the two properties of its quality report
_SHAPES, _PAIRS = "Column Shapes", "Column Pair Trends"


@dataclass(frozen=True, eq=False, repr=False)
class SyntheticQuality:
    """What :func:`quality_report` found: SDMetrics' scores of a synthetic table.

    Every score is in [0, 1], higher is better (more similar for the quality
    scores, more private for the privacy ones). Print it for a summary;
    :meth:`summary` gives the numbers as a pandas Series, for tables of
    several generators.

    Attributes
    ----------
    score : float
        SDMetrics' overall quality score: the mean of ``column_shapes`` and
        ``column_pair_trends`` (of ``column_shapes`` alone for a table of one
        column).
    column_shapes : float
        Mean similarity of each column's distribution, real against synthetic:
        ``KSComplement`` (1 minus the Kolmogorov-Smirnov distance) for
        numerical columns, ``TVComplement`` (1 minus the total variation
        distance of the frequencies) for boolean and categorical ones.
    column_pair_trends : float
        Mean similarity of each pair of columns' relation:
        ``CorrelationSimilarity`` (of the Pearson correlations) for two
        numerical columns, ``ContingencySimilarity`` otherwise. NaN for a
        table of one column.
    column_shape_details : pandas.DataFrame
        One row per column: ``Column``, ``Metric``, ``Score`` (SDMetrics'
        ``get_details("Column Shapes")``).
    column_pair_details : pandas.DataFrame
        One row per pair of columns: ``Column 1``, ``Column 2``, ``Metric``,
        ``Score`` and the real and synthetic correlations SDMetrics reports.
    n_real : int
        Number of real (training) rows.
    n_synthetic : int
        Number of synthetic rows scored.
    n_holdout : int or None
        Number of held-out real rows, None without ``holdout``.
    n_copies : int
        Synthetic rows that match a real training row (SDMetrics'
        ``NewRowSynthesis``: every boolean and categorical value equal and
        every numerical value within ``numerical_match_tolerance`` of it,
        relative; missing values match missing values).
    copy_share : float
        ``n_copies / n_synthetic``; 0 means no synthetic row is a copy.
    dcr_overfitting_protection : float or None
        SDMetrics' ``DCROverfittingProtection``: 1 when at most half of the
        synthetic rows are closer to a training row than to any held-out row
        (what rows independent of the training rows give, for a holdout as
        large as the training set), falling to 0 when all are. None without
        ``holdout``.
    closer_to_training : float or None
        Share of synthetic rows whose closest real row (distance to closest
        record, DCR) is a training row rather than a held-out one; None
        without ``holdout``.
    metadata : dict
        The SDMetrics metadata the scores were computed with: the ``sdtype``
        of every column.
    sdmetrics_report : sdmetrics.reports.QualityReport
        SDMetrics' generated report, for its figures
        (``get_visualization("Column Shapes")``, which needs plotly).

    See Also
    --------
    quality_report : Computes it.
    """

    score: float
    column_shapes: float
    column_pair_trends: float
    column_shape_details: object
    column_pair_details: object
    n_real: int
    n_synthetic: int
    n_holdout: object
    n_copies: int
    copy_share: float
    dcr_overfitting_protection: object
    closer_to_training: object
    metadata: dict
    sdmetrics_report: object

    def summary(self):
        """The scalar results, as a pandas Series of floats.

        Returns
        -------
        summary : pandas.Series
            ``score``, ``column_shapes``, ``column_pair_trends``,
            ``n_synthetic``, ``n_copies``, ``copy_share``,
            ``dcr_overfitting_protection`` and ``closer_to_training`` (NaN
            without a holdout), indexed by these names; the Series of
            several reports make a table with
            ``pandas.DataFrame({name: report.summary() for ...})``.
        """
        pd = import_optional("pandas")
        names = (
            "score",
            "column_shapes",
            "column_pair_trends",
            "n_synthetic",
            "n_copies",
            "copy_share",
            "dcr_overfitting_protection",
            "closer_to_training",
        )
        values = [getattr(self, name) for name in names]
        return pd.Series(
            [np.nan if v is None else float(v) for v in values], index=list(names)
        )

    def __repr__(self):
        lines = [
            f"SyntheticQuality: {self.n_synthetic} synthetic rows against "
            f"{self.n_real} real rows (SDMetrics)",
            f"  {'quality score':30}{self.score:.3f}",
            f"    {_SHAPES:28}{self.column_shapes:.3f}",
            f"    {_PAIRS:28}{self.column_pair_trends:.3f}",
            f"  {'copies of real rows':30}{self.n_copies} "
            f"({100 * self.copy_share:.1f} %)",
        ]
        label = f"  {'DCR overfitting protection':30}"
        if self.dcr_overfitting_protection is None:
            lines.append(f"{label}not computed (no holdout)")
        else:
            lines.append(
                f"{label}{self.dcr_overfitting_protection:.3f} "
                f"({100 * self.closer_to_training:.1f} % of synthetic rows closer "
                f"to a training row than to the {self.n_holdout} held-out rows)"
            )
        return "\n".join(lines)


@validate_params(
    {
        "estimator": "no_validation",  # checked below: fitted, and with sample
        "X": "no_validation",  # DataFrames, checked below against the fitted columns
        "holdout": "no_validation",
        "synthetic": "no_validation",
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "decoder_noise": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
        "numerical_match_tolerance": [Interval(Real, 0, None, closed="left")],
    },
    prefer_skip_nested_validation=True,
)
def quality_report(
    estimator,
    X,
    *,
    holdout=None,
    synthetic=None,
    n_samples=None,
    decoder_noise="auto",
    random_state=None,
    numerical_match_tolerance=0.01,
):
    """Score synthetic rows against the real rows with SDMetrics.

    Draws ``n_samples`` rows from a fitted generative model (or takes the
    rows of any generator as ``synthetic``) and computes with SDMetrics, on
    the rows ``X`` the model was trained on:

    - quality: SDMetrics' ``QualityReport``, the similarity of each column's
      distribution (Column Shapes) and of each pair of columns' relation
      (Column Pair Trends), with the scores of every column and pair;
    - copies: the synthetic rows that repeat a training row
      (``NewRowSynthesis``), which a model that memorises its data makes;
    - with ``holdout``, real rows the model was not trained on: whether the
      synthetic rows lie closer to the training rows than to the held-out
      ones, by distance to closest record (``DCROverfittingProtection``).

    Every check of the inputs is done before any row is drawn. Needs
    SDMetrics (``pip install "skvae[report]"``).

    Parameters
    ----------
    estimator : fitted estimator
        The generative model, for instance a :class:`VAETransformer` fitted
        on ``X``; it must have ``sample(n_samples, random_state=...,
        decoder_noise=...)`` (as skvae's generative estimators do) unless
        ``synthetic`` is given. Its column typing
        decides how SDMetrics treats each column (see Notes).
    X : pandas.DataFrame of shape (n_rows, n_features_in_)
        The real rows the estimator was trained on, with the columns it was
        fitted on (in any order); for an estimator fitted on an array, one
        string-named column per feature.
    holdout : pandas.DataFrame, default=None
        Real rows the estimator was *not* trained on, with the columns of
        ``X``, for the distance-to-closest-record check; SDMetrics recommends
        at least half as many as ``X`` (and warns otherwise). None skips the
        check.
    synthetic : pandas.DataFrame, default=None
        Rows to score instead of drawing them: the rows of any generator
        (another library's, or a bootstrap of ``X`` as a baseline), with the
        columns of ``X``. None draws them from ``estimator``.
    n_samples : int, default=None
        Number of rows to draw; None draws ``len(X)``. Must be None with
        ``synthetic``.
    decoder_noise : bool or "auto", default="auto"
        Passed to ``estimator.sample``: True draws each row from p(x | z),
        the model's full generative process, whose rows have the spread of
        real rows; False scores the decoder means, whose categorical columns
        hold only the most probable category; ``"auto"``, ``sample``'s own
        default, draws for a model fitted on a DataFrame and takes the means
        for one fitted on an array. Ignored with ``synthetic``.
    random_state : int, RandomState instance or None, default=None
        Seeds the draws (``estimator.sample(..., random_state=...)``).
        Ignored with ``synthetic``; SDMetrics' scores themselves are
        deterministic on tables of up to 50,000 rows.
    numerical_match_tolerance : float, default=0.01
        How close, relative to the synthetic value, a numerical value must be
        to count as a copy (``NewRowSynthesis``' parameter of this name); 0
        counts exact copies only.

    Returns
    -------
    result : SyntheticQuality
        The scores, the per-column and per-pair details as DataFrames, the
        copies and, with ``holdout``, the distance-to-closest-record result.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.
    TypeError
        If ``X``, ``holdout`` or ``synthetic`` is not a DataFrame, or the
        estimator cannot ``sample`` and no ``synthetic`` is given.
    ValueError
        If their columns are not the fitted ones (the message names the
        columns that differ), or ``n_samples`` is not a positive integer or
        is given with ``synthetic``.
    ImportError
        If SDMetrics is not installed.

    See Also
    --------
    VAETransformer.sample : Draws the rows.
    SyntheticQuality : The result.

    Notes
    -----
    SDMetrics scores each column by its metadata ``sdtype``. For a model
    fitted on a DataFrame as a table (``tabular_``) the types are the
    model's own: numeric columns (float and integer dtypes) are
    ``"numerical"``, boolean ones ``"boolean"``, categorical, object and
    string ones ``"categorical"``. Otherwise they follow the dtypes of
    ``X`` in the same way. An integer column is numerical, as the model
    treats it (a Gaussian, rounded): its shape is scored with
    ``KSComplement`` and its pairs with correlations. A column of class codes
    is better cast to ``"category"`` before ``fit``; the model then treats
    it as categories and SDMetrics scores it as such. Categorical and boolean
    columns reach SDMetrics as object columns and numerical ones as float64
    (missing values as NaN).

    ``NewRowSynthesis`` looks for each synthetic row among the real rows by
    one pandas query per synthetic row, so its time grows with the product
    of the two numbers of rows and dominates on large tables (see
    :ref:`judging_synthetic_tables`).

    References
    ----------
    DataCebo, SDMetrics: metrics for synthetic data.
    https://docs.sdv.dev/sdmetrics

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from skvae import VAETransformer, quality_report
    >>> table = load_wine(as_frame=True).frame.astype({"target": "category"})
    >>> vae = VAETransformer(2, hidden_layer_sizes=(16,), max_iter=5,
    ...                      random_state=0).fit(table)
    >>> result = quality_report(vae, table, random_state=0)
    >>> 0 <= result.score <= 1
    True
    >>> result.n_synthetic, result.column_shape_details.shape
    (178, (14, 3))
    >>> quality_report(vae, table, synthetic=table).n_copies
    178
    """
    check_is_fitted(estimator)
    columns = _fitted_columns(estimator, X)
    if holdout is not None:
        _check_frame(holdout, "holdout", columns)
    if synthetic is not None:
        _check_frame(synthetic, "synthetic", columns)
        if n_samples is not None:
            raise ValueError(
                f"n_samples={n_samples!r} asks for rows to be drawn, but synthetic "
                "rows are given; pass one or the other."
            )
    elif not callable(getattr(estimator, "sample", None)):
        raise TypeError(
            f"{type(estimator).__name__} has no sample method to draw rows from; "
            "pass the rows to score as synthetic."
        )
    sdtypes = _sdtypes(estimator, X, columns)
    pd = import_optional("pandas")
    reports = import_optional("sdmetrics.reports")
    single_table = import_optional("sdmetrics.single_table")

    if synthetic is None:
        synthetic = estimator.sample(
            len(X) if n_samples is None else n_samples,
            random_state=random_state,
            decoder_noise=decoder_noise,
        )
        if not is_frame(synthetic):  # fitted on an array: rows in column order
            synthetic = pd.DataFrame(synthetic, columns=columns)
    real, synthetic = _plain(X, sdtypes), _plain(synthetic, sdtypes)
    holdout = None if holdout is None else _plain(holdout, sdtypes)
    metadata = {
        "tables": {
            _TABLE: {"columns": {c: {"sdtype": sdtypes[c]} for c in columns}}
        }
    }

    report = reports.QualityReport()
    report.generate({_TABLE: real}, {_TABLE: synthetic}, metadata, verbose=False)
    properties = report.get_properties().set_index("Property")["Score"]
    copies = single_table.NewRowSynthesis.compute_breakdown(
        real,
        synthetic,
        metadata,
        table_name=_TABLE,
        numerical_match_tolerance=numerical_match_tolerance,
    )
    dcr = closer = None
    if holdout is not None:
        breakdown = single_table.DCROverfittingProtection.compute_breakdown(
            real_training_data=real,
            synthetic_data=synthetic,
            real_validation_data=holdout,
            metadata=metadata,
            table_name=_TABLE,
        )
        dcr = float(breakdown["score"])
        closer = float(breakdown["synthetic_data_percentages"]["closer_to_training"])
    n_copies = int(copies["num_matched_rows"])
    return SyntheticQuality(
        score=float(report.get_score()),
        column_shapes=float(properties[_SHAPES]),
        column_pair_trends=float(properties[_PAIRS]),
        column_shape_details=_details(report, _SHAPES),
        column_pair_details=_details(report, _PAIRS),
        n_real=len(real),
        n_synthetic=len(synthetic),
        n_holdout=None if holdout is None else len(holdout),
        n_copies=n_copies,
        copy_share=n_copies / len(synthetic),
        dcr_overfitting_protection=dcr,
        closer_to_training=closer,
        metadata=metadata,
        sdmetrics_report=report,
    )


def _check_frame(frame, name, columns):
    """Refuse ``frame`` unless it is a DataFrame with exactly ``columns``."""
    if not is_frame(frame):
        raise TypeError(
            f"{name} must be a pandas DataFrame with the fitted columns, got "
            f"{shorten(type(frame).__name__, 80)}."
        )
    have = list(frame.columns)
    if len(set(have)) != len(have):
        repeated = [c for c in dict.fromkeys(have) if have.count(c) > 1]
        raise ValueError(f"{name} has repeated columns: {_few(repeated)}.")
    missing = [c for c in columns if c not in set(have)]
    unexpected = [c for c in have if c not in set(columns)]
    if missing or unexpected:
        parts = [f"lacks the fitted columns {_few(missing)}"] if missing else []
        if unexpected:
            parts.append(f"has the columns {_few(unexpected)}, unseen in fit")
        raise ValueError(f"{name} {' and '.join(parts)}.")
    if len(frame) == 0:
        raise ValueError(f"{name} has no rows.")


def _fitted_columns(estimator, X):
    """The names of the fitted columns, after checking that X has them."""
    if not is_frame(X):
        _check_frame(X, "X", [])  # raises the TypeError
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        columns = list(names)
    else:  # fitted on an array: X names its columns
        n_features = getattr(estimator, "n_features_in_", X.shape[1])
        if X.shape[1] != n_features:
            raise ValueError(
                f"X has {X.shape[1]} columns, but {type(estimator).__name__} was "
                f"fitted on {n_features} features."
            )
        columns = list(X.columns)
        odd = [c for c in columns if not isinstance(c, str)]
        if odd:
            raise ValueError(
                f"X has columns whose names are not str, such as {_few(odd)}; "
                "SDMetrics needs string column names: rename them, for "
                "instance with X.set_axis([...], axis=1)."
            )
    _check_frame(X, "X", columns)
    return columns


def _sdtypes(estimator, X, columns):
    """SDMetrics' ``sdtype`` of every column: the model's typing, or X's dtypes."""
    tabular = getattr(estimator, "tabular_", None)
    if tabular is not None and tabular.frame_:
        kinds = dict(zip(tabular.columns_, tabular.kinds_, strict=True))
        return {c: kinds[c].sdtype for c in columns}
    sdtypes = {}
    for c in columns:
        dtype = X[c].dtype
        if _is_boolean(dtype):
            sdtypes[c] = "boolean"
        elif _is_number(dtype):
            sdtypes[c] = "numerical"
        else:
            sdtypes[c] = "categorical"
    return sdtypes


def _plain(frame, sdtypes):
    """``frame`` in the fitted column order, in the dtypes SDMetrics handles.

    Numerical columns as float64 (nullable integers' ``pd.NA`` as NaN);
    boolean and categorical ones as object columns of plain values with NaN
    for missing: SDMetrics' ``NewRowSynthesis`` fails on ``category`` and
    ``string`` columns of strings (sdv-dev/SDMetrics#397), and pandas warns
    about the ``observed=`` default when SDMetrics groups ``category``
    columns.
    """
    pd = import_optional("pandas")
    out = {}
    for c, sdtype in sdtypes.items():
        column = frame[c]
        if sdtype == "numerical":
            out[c] = as_float(column)
        else:
            values = column.astype(object)
            out[c] = values.where(~pd.isna(values), np.nan).to_numpy()
    return pd.DataFrame(out, columns=list(sdtypes))


def _details(report, name):
    """SDMetrics' details of a property, without its one-table ``Table`` column."""
    details = report.get_details(name)
    return details.drop(columns="Table", errors="ignore").reset_index(drop=True)
