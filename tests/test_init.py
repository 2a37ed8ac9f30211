"""Data-aware initialisation: the moments pass and each likelihood's start."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits

import skvae._base
from skvae import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    FullCovarianceGaussianLikelihood,
    GaussianLikelihood,
    MixedLikelihood,
    VAEImputer,
    VAETransformer,
)
from skvae._init import data_moments, initialize_from_data
from skvae._likelihoods import P_MIN
from skvae._training import Rows

TINY = dict(hidden_layer_sizes=(8,), device="cpu", random_state=0)


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:300] / 16


def _fresh(likelihood, X):
    """An estimator whose weights are the initial ones (no training step)."""
    vae = VAETransformer(2, likelihood=likelihood, learning_rate_init=1e-30, **TINY)
    return vae.partial_fit(X)


def test_gaussian_starts_at_each_columns_mean_and_std():
    rng = np.random.RandomState(0)
    X = rng.normal(3.0, [0.5, 2.0, 7.0], size=(500, 3))
    vae = _fresh("gaussian", X)
    lik, module = vae.likelihood_, vae.module_
    scale = torch.nn.functional.softplus(module.shared.detach()) + lik.min_scale
    np.testing.assert_allclose(scale.numpy(), X.std(0), rtol=1e-5)
    np.testing.assert_allclose(
        module.decoder[-1].bias.detach().numpy(), X.mean(0), rtol=1e-5
    )


def test_constant_column_scale_is_floored_not_at_min_scale():
    X = np.c_[np.random.RandomState(0).normal(size=(200, 2)), np.ones(200)]
    vae = _fresh("gaussian", X)
    scale = torch.nn.functional.softplus(vae.module_.shared.detach()) + 1e-3
    assert 0.05 < scale[2] < 0.2  # a tenth of the typical column's std


def test_full_covariance_starts_diagonal_at_the_stds():
    X = np.random.RandomState(0).normal(0, [1.0, 3.0], size=(400, 2))
    vae = VAETransformer(2, covariance="full", learning_rate_init=1e-30, **TINY)
    vae.partial_fit(X)
    lik = vae.likelihood_
    assert isinstance(lik, FullCovarianceGaussianLikelihood)
    with torch.no_grad():
        params = vae.module_.decode(torch.zeros(1, 2))
        cov = lik.covariance(params).numpy()
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), X.std(0), rtol=1e-5)
    assert abs(cov[0, 1]) < 1e-12


def test_bernoulli_bias_is_the_clipped_logit_of_the_mean(digits):
    vae = _fresh("bernoulli", digits)
    p = np.clip(digits.mean(0), P_MIN, 1 - P_MIN)
    np.testing.assert_allclose(
        vae.module_.decoder[-1].bias.detach().numpy(),
        np.log(p / (1 - p)),
        rtol=1e-4,
        atol=1e-5,
    )


def test_mixed_blocks_start_at_their_own_moments_over_observed_entries():
    lik = MixedLikelihood(
        (GaussianLikelihood(), CategoricalLikelihood()),
        (2, 3),
        n_variables=(2, 1),
        masked=True,
    )
    x = torch.tensor(
        [  # data (2 numeric, 3 one-hot), then indicators (2 numeric, 1 cat)
            [1.0, 5.0, 1, 0, 0, 1, 1, 1],
            [3.0, 0.0, 0, 1, 0, 1, 0, 1],  # second numeric missing
            [0.0, 7.0, 0, 0, 0, 0, 1, 0],  # first numeric and category missing
        ],
        dtype=torch.float64,
    )
    moments = data_moments(Rows(x, "cpu", dtype=torch.float64), lik)
    np.testing.assert_array_equal(moments.count.numpy(), [2, 2, 2, 2, 2])
    bias, shared = lik.initial_outputs(moments)
    np.testing.assert_allclose(bias[:2].numpy(), [2.0, 6.0])
    freq = np.log(np.clip([0.5, 0.5, 0.0], P_MIN, None))
    np.testing.assert_allclose(bias[2:].numpy(), freq)
    scale = torch.nn.functional.softplus(shared) + 1e-3
    np.testing.assert_allclose(scale.numpy(), [1.0, 1.0])


def test_moments_are_computed_once_per_fresh_fit(digits, monkeypatch):
    calls = []
    real = skvae._base.initialize_from_data

    def spy(module, likelihood, rows):
        calls.append(len(rows))
        return real(module, likelihood, rows)

    monkeypatch.setattr(skvae._base, "initialize_from_data", spy)
    vae = VAETransformer(2, max_iter=2, early_stopping=True, **TINY)
    vae.fit(digits)
    assert calls == [270]  # the training rows only, not the 30 validation rows
    vae.partial_fit(digits)  # continuing a fitted model: no new start
    vae.set_params(warm_start=True).fit(digits)
    assert calls == [270]
    vae.set_params(warm_start=False).fit(digits)
    assert calls == [270, 270]


def test_warm_start_keeps_the_trained_outputs(digits):
    vae = VAETransformer(2, likelihood="bernoulli", max_iter=1, warm_start=True, **TINY)
    vae.fit(digits)
    with torch.no_grad():
        vae.module_.decoder[-1].bias.fill_(100.0)  # far from any data start
    vae.fit(digits)  # 3 Adam steps of 1e-3 each, no reset to the moments
    assert (vae.module_.decoder[-1].bias.detach() > 99.9).all()


def test_imputer_starts_from_observed_entries_only():
    rng = np.random.RandomState(0)
    X = rng.normal(10.0, 1.0, size=(300, 3))
    X[rng.rand(300, 3) < 0.3] = np.nan
    imp = VAEImputer(hidden_layer_sizes=(8,), max_iter=2, random_state=0)
    imp.fit(X)  # NaN never reaches the moments: training runs finitely
    assert np.isfinite(imp.transform(X)).all()


def test_likelihood_without_an_opinion_keeps_the_default_start(digits):
    class Plain(BernoulliLikelihood):
        def initial_outputs(self, moments):
            return None, None

    module = VAETransformer(2, likelihood=Plain(), **TINY)
    vae = VAETransformer(2, likelihood=Plain(), learning_rate_init=1e-30, **TINY)
    vae.partial_fit(digits)
    bias = vae.module_.decoder[-1].bias.detach()
    assert bias.abs().max() <= 1 / np.sqrt(8)  # nn.Linear's uniform start
    del module
    rows = Rows(torch.as_tensor(digits), "cpu")
    moments = initialize_from_data(vae.module_, vae.likelihood_, rows)
    np.testing.assert_allclose(moments.mean.numpy(), digits.mean(0), rtol=1e-6)


def test_categorical_table_starts_at_log_frequencies():
    df = pd.DataFrame({"c": ["a"] * 30 + ["b"] * 10, "x": np.arange(40.0)})
    vae = VAETransformer(2, learning_rate_init=1e-30, **TINY).partial_fit(df)
    bias = vae.module_.decoder[-1].bias.detach().numpy()
    logits = np.log([0.75, 0.25])
    assert any(
        np.allclose(bias[i : i + 2], logits, atol=1e-5) for i in range(len(bias) - 1)
    )
