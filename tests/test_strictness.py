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
        return VAETransformer(hidden_layer_sizes=(8,), max_iter=1, random_state=0).fit(X)


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
