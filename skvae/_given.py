"""Rows of a masked table drawn given the values of some of its columns.

``VAETransformer.sample(n, given={...})`` on a model fitted with
``missing="mask"``: the given columns are the observed entries of a row
whose other entries are missing, and the free columns are drawn from the
model's conditional given them with the imputer's importance-weighted
machinery (:func:`skvae._completion.complete_rows`): for each new row, latent
points from q(z | x_given) weighted by p(x_given | z) p(z) / q(z | x_given),
one kept by sampling importance resampling and decoded (its conditional
mean, or a draw with ``decoder_noise``). No row is rejected, so a rare
condition costs what a common one does, and every row holds the given
values exactly.
"""

from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np

from ._completion import complete_rows
from ._optional import import_optional
from ._quoting import quote

__all__ = ["sample_given"]

#: latent draws per generated row: the imputer's sampling importance resampling
_GIVEN_DRAWS = 200
#: share of those drawn from the prior N(0, I) rather than q(z | x_given)
_GIVEN_PRIOR_MIX = 0.5  # docs/benchmarks.md, "Tables: sample(n, given=...)"


def _check_given(vae, given, X):
    name = type(vae).__name__
    tabular = getattr(vae, "tabular_", None)
    if tabular is None or not tabular.allow_missing:
        raise ValueError(
            f"{name}.sample(given=...) draws the other columns from the model's "
            "conditional, which needs a model fitted with missing='mask'."
        )
    if X is not None:
        raise ValueError("sample takes X or given, not both.")
    if not isinstance(given, Mapping) or not given:
        raise TypeError(
            f"given must be a non-empty dict of column -> value, got {quote(given)}."
        )
    columns = tabular.columns_
    positions = {}
    for column, value in given.items():
        try:
            j = columns.index(column)
        except ValueError:
            known = ", ".join(quote(c) for c in columns[:10])
            raise ValueError(
                f"given names the column {quote(column)}, which {name} was not "
                f"fitted on (its columns: {known}"
                f"{', ...' if len(columns) > 10 else ''})."
            ) from None
        if isinstance(column, bool) or (
            not tabular.frame_ and not isinstance(column, Integral)
        ):
            raise ValueError(f"given: {quote(column)} is not a column index.")
        positions[j] = _check_value(tabular.kinds_[j], column, value)
    return positions


def _check_value(kind, column, value):
    """The given value, or a ValueError naming the column and the value."""
    categories = getattr(kind, "categories", None)
    if value is None or (isinstance(value, float) and np.isnan(value)):
        raise ValueError(f"given: the value of {quote(column)} is missing.")
    if categories is not None:
        known = list(categories)
        if not any(type(value) is type(c) and value == c for c in known) and (
            value not in known
        ):
            shown = ", ".join(quote(c) for c in known[:10])
            raise ValueError(
                f"given: {quote(value)} is not a category of {quote(column)} seen "
                f"in fit ({shown}{', ...' if len(known) > 10 else ''})."
            )
        return value
    if type(kind).__name__ == "_Boolean":
        if not isinstance(value, bool | np.bool_):
            raise ValueError(
                f"given: {quote(column)} is a boolean column, got {quote(value)}."
            )
        return bool(value)
    if (
        not isinstance(value, Real)
        or isinstance(value, bool | np.bool_)
        or not np.isfinite(value)
    ):
        raise ValueError(
            f"given: {quote(column)} is a numeric column; its value must be a "
            f"finite number, got {quote(value)}."
        )
    return value


def _row(vae, positions):
    """One row with the given values and every other entry missing."""
    tabular = vae.tabular_
    if not tabular.frame_:
        row = np.full((1, tabular.n_columns), np.nan, dtype=tabular.float_dtype_)
        for j, value in positions.items():
            row[0, j] = value
        return row
    pd = import_optional("pandas")
    # the fitted dtypes, from a decoded template (the module's input is the
    # data columns, then one observation indicator per column)
    n_data = vae.module_.spec["n_features"] - tabular.n_columns
    template = tabular.inverse_transform(np.zeros((1, n_data)))
    series = {}
    for j, column in enumerate(tabular.columns_):
        dtype = template[column].dtype
        kind = getattr(dtype, "kind", None)
        if j in positions:
            series[column] = pd.Series([positions[j]]).astype(dtype)
        elif kind == "b":
            series[column] = pd.Series([pd.NA], dtype="boolean")
        elif kind in ("i", "u"):
            series[column] = pd.Series([pd.NA], dtype="Int64")
        else:
            series[column] = pd.Series([None]).astype(dtype)
    return pd.DataFrame(series)


def sample_given(vae, n_samples, given, X, generator, data_noise):
    """``n_samples`` rows of ``vae``'s table with the ``given`` values; see
    :meth:`VAETransformer.sample`."""
    positions = _check_given(vae, given, X)
    row = _row(vae, positions)
    encoded = vae.prepare_input(row)
    rows = np.repeat(encoded, n_samples, axis=0)
    filled = complete_rows(
        vae, rows, _GIVEN_DRAWS, generator, data_noise, 1, _GIVEN_PRIOR_MIX
    )
    out = vae.tabular_.inverse_transform(
        np.ascontiguousarray(filled[:, 0]), dtype=encoded.dtype
    )
    for j, value in positions.items():  # exactly as given, whatever the decoding
        if isinstance(out, np.ndarray):
            out[:, j] = value
        else:
            column = vae.tabular_.columns_[j]  # in the fitted dtype
            repeated = row[column].iloc[np.zeros(len(out), dtype=np.intp)]
            out[column] = repeated.set_axis(out.index)
    return out
