"""Inputs that used to be converted silently or failed deep inside torch
are refused up front with a message naming the parameter or column (#13)."""

import warnings

import numpy as np
import pytest

from skvae import GaussianLikelihood, MixedLikelihood, VAEImputer, VAETransformer


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).rand(20, 4)


@pytest.fixture(scope="module")
def fitted(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAETransformer(hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(
            X
        )


@pytest.mark.parametrize(
    "sizes", [("8",), (8.7,), (float("inf"),), (None,), (True,), ((8,),), (0,)]
)
def test_hidden_layer_sizes_refused(X, sizes):
    with pytest.raises(ValueError, match="hidden_layer_sizes.*bad value"):
        VAETransformer(hidden_layer_sizes=sizes, max_iter=1).fit(X)


@pytest.mark.filterwarnings("ignore")
def test_hidden_layer_sizes_numpy_integers_accepted(X):
    vae = VAETransformer(hidden_layer_sizes=np.array([4, 3]), max_iter=1).fit(X)
    assert vae.module_ is not None
    VAETransformer(hidden_layer_sizes=(np.int64(3),), max_iter=1).fit(X)


def test_meta_device_refused(X):
    with pytest.raises(ValueError, match="device='meta'"):
        VAETransformer(device="meta", max_iter=1).fit(X)


@pytest.mark.parametrize("n", [10**9, 2**63])
def test_huge_sample_refused(fitted, n):
    with pytest.raises(ValueError, match="sample would need .* GiB"):
        fitted.sample(n)


def test_huge_sample_around_rows_refused(fitted, X):
    with pytest.raises(ValueError, match="sample would need"):
        fitted.sample(10**8, X=X)


def test_huge_interpolate_refused(fitted, X):
    with pytest.raises(ValueError, match="interpolate would need"):
        fitted.interpolate(X[:2], X[2:4], n_steps=10**12)


@pytest.mark.filterwarnings("ignore")
def test_huge_sample_imputations_refused(X):
    Z = X.copy()
    Z[0, 0] = np.nan
    imputer = VAEImputer(hidden_layer_sizes=(4,), max_iter=1, n_importance=3).fit(Z)
    with pytest.raises(ValueError, match="sample_imputations would need"):
        imputer.sample_imputations(Z, n_imputations=10**10)
    assert imputer.sample_imputations(Z, 2).shape == (2, 20, 4)


@pytest.mark.parametrize("method", ["transform", "score_samples"])
@pytest.mark.parametrize("rows", [slice(None), slice(0, 1)])
def test_beyond_float32_refused_at_inference(fitted, X, method, rows):
    Y = X.copy()
    Y[0, 0] = 1e39
    with pytest.raises(ValueError, match="beyond the float32 range.*scale X first"):
        getattr(fitted, method)(Y[rows])


def test_likelihood_too_narrow_for_columns(X):
    likelihood = MixedLikelihood((GaussianLikelihood(),), (1,))
    with pytest.raises(ValueError):
        VAETransformer(likelihood=likelihood, max_iter=1).fit(X)


# ------------------------------------------------------------------ tables

pd = pytest.importorskip("pandas")


def _frame(n=20):
    return pd.DataFrame(
        {
            "x": np.arange(n, dtype=float),
            "b": [True, False] * (n // 2),
            "c": ["a", "b"] * (n // 2),
        }
    )


def _fit(frame, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAETransformer(hidden_layer_sizes=(4,), max_iter=1, **params).fit(frame)


@pytest.mark.parametrize("cls_name", ["VAETransformer", "AutoencoderTransformer"])
def test_unknown_category_refused_by_default(cls_name):
    import skvae

    frame = _frame()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = getattr(skvae, cls_name)(hidden_layer_sizes=(4,), max_iter=1)
        est.fit(frame)
    assert est.handle_unknown == "error"
    other = frame.assign(c=["a", "zz"] * 10)
    with pytest.raises(ValueError, match=r"unknown categories 'zz' in column 'c'"):
        est.transform(other)


def test_unknown_category_message_is_short():
    est = _fit(_frame())
    other = _frame().assign(c=[f"new{i}" + "x" * 100 for i in range(20)])
    with pytest.raises(ValueError, match=r"\(20 in all\)") as info:
        est.transform(other)
    assert len(str(info.value)) < 600


def test_unknown_category_as_missing_opt_in():
    est = _fit(_frame(), missing="mask", handle_unknown="missing")
    other = _frame().assign(c=["a", "zz"] * 10)
    unknown = est.transform(other)
    missing = est.transform(_frame().assign(c=["a", None] * 10))
    np.testing.assert_allclose(unknown, missing)


def test_unknown_as_missing_needs_mask():
    with pytest.raises(ValueError, match="handle_unknown='missing'.*missing='mask'"):
        _fit(_frame(), handle_unknown="missing")


def test_handle_unknown_is_validated():
    with pytest.raises(ValueError, match="handle_unknown"):
        _fit(_frame(), handle_unknown="ignore")


def test_non_boolean_values_in_boolean_column_refused():
    est = _fit(_frame())
    with pytest.raises(ValueError, match="column 'b' was fitted as a boolean"):
        est.transform(_frame().assign(b=np.arange(20)))


def test_booleans_with_missing_values_still_accepted():
    est = _fit(_frame(), missing="mask")
    est.transform(_frame().assign(b=[True, None] * 10))


def test_ints_in_string_column_refused():
    est = _fit(_frame())
    with pytest.raises(TypeError, match="column 'c' was fitted as a string column"):
        est.transform(_frame().assign(c=pd.Series([1, 2] * 10, dtype=object)))


def test_mixed_object_column_refused_at_fit():
    with pytest.raises(TypeError, match="column 'c' mixes values of types int, str"):
        _fit(_frame().assign(c=["a", 1] * 10))


def test_complex_column_refused():
    with pytest.raises(ValueError, match="Complex data not supported: column 'x'"):
        _fit(_frame().assign(x=np.arange(20) + 1j))


def test_complex_array_refused(X):
    with pytest.raises(ValueError, match="Complex data not supported"):
        VAETransformer(max_iter=1).fit(X + 1j)


@pytest.mark.parametrize(
    "values",
    [pd.date_range("2020", periods=20), pd.to_timedelta(np.arange(20), unit="s")],
)
def test_date_and_duration_columns_refused(values):
    with pytest.raises(TypeError, match="column 'x' has dtype .*convert it to numbers"):
        _fit(_frame().assign(x=values))


@pytest.mark.parametrize("dtype", ["datetime64[s]", "timedelta64[s]"])
@pytest.mark.parametrize("missing", ["error", "mask"])
def test_date_and_duration_arrays_refused(dtype, missing):
    X = np.arange(60).reshape(20, 3).astype(dtype)
    with pytest.raises(TypeError, match="dates and durations"):
        VAETransformer(max_iter=1, missing=missing).fit(X)


def test_masked_array_refused_without_mask(X):
    masked = np.ma.masked_array(X, mask=np.zeros(X.shape, bool))
    masked[0, 0] = np.ma.masked
    with pytest.raises(ValueError, match="masked array with 1 masked entries"):
        VAETransformer(max_iter=1).fit(masked)


@pytest.mark.filterwarnings("ignore")
def test_masked_array_mask_becomes_missing(X):
    masked = np.ma.masked_array(X, mask=np.zeros(X.shape, bool))
    masked[0, 0] = np.ma.masked
    est = VAETransformer(hidden_layer_sizes=(4,), max_iter=1, missing="mask")
    est.fit(masked)
    nan = X.copy()
    nan[0, 0] = np.nan
    np.testing.assert_allclose(est.transform(masked), est.transform(nan))
    # a masked array with nothing masked is its data
    plain = VAETransformer(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    plain.fit(np.ma.masked_array(X))
