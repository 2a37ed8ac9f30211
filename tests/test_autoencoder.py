"""AutoencoderTransformer: the deterministic autoencoder's sklearn face."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skvae import AutoencoderTransformer, VAETransformer


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:400] / 16


def make_ae(**params):
    defaults = dict(
        n_components=4,
        hidden_layer_sizes=(32,),
        learning_rate_init=3e-3,
        max_iter=10,
        random_state=0,
        device="cpu",
    )
    return AutoencoderTransformer(**{**defaults, **params})


@pytest.fixture(scope="module")
def ae(digits):
    return make_ae(likelihood="bernoulli", max_iter=40).fit(digits)


def test_parameters_are_the_vaes_minus_the_variational_ones():
    ae_params = set(AutoencoderTransformer().get_params())
    vae_params = set(VAETransformer().get_params())
    variational = {"beta", "kl_warmup", "n_importance_train", "latent_density"}
    assert ae_params == vae_params - variational
    assert not hasattr(AutoencoderTransformer(), "sample")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transform_and_inverse_transform(ae, digits, dtype):
    X = digits[:20].astype(dtype)
    Z = ae.transform(X)
    assert Z.shape == (20, 4) and Z.dtype == dtype
    X_back = ae.inverse_transform(Z)
    assert X_back.shape == (20, 64) and X_back.dtype == dtype
    np.testing.assert_array_equal(Z, ae.transform(X))  # no noise at inference


def test_fit_transform_matches_fit_then_transform(digits):
    Z = make_ae().fit_transform(digits)
    np.testing.assert_allclose(Z, make_ae().fit(digits).transform(digits), atol=1e-6)


def test_trained_without_kl(ae):
    assert len(ae.history_) == len(ae.loss_curve_) == ae.n_iter_ == 40
    assert all(r["kl"] == 0 and r["loss"] == r["recon"] for r in ae.history_)
    assert ae.loss_curve_[-1] < ae.loss_curve_[0]
    assert not hasattr(ae, "kl_per_component_")


def test_reconstructs_better_than_the_mean_and_the_vae(ae, digits):
    """Without noise and KL, codes keep more of x than a VAE's of the same size."""

    def error(est):
        return np.mean((est.inverse_transform(est.transform(digits)) - digits) ** 2)

    vae = VAETransformer(**ae.get_params()).fit(digits)
    assert error(ae) < 0.8 * np.mean((digits - digits.mean(axis=0)) ** 2)
    assert error(ae) < error(vae)


def test_feature_names_out(ae):
    names = ae.get_feature_names_out()
    assert list(names) == [f"autoencodertransformer{i}" for i in range(4)]


def test_partial_fit_and_warm_start(digits):
    ae = make_ae()
    for _ in range(3):
        ae.partial_fit(digits)
    assert ae.n_iter_ == 3
    ae = make_ae(max_iter=2, warm_start=True).fit(digits)
    module = ae.module_
    ae.fit(digits)
    assert ae.n_iter_ == 4 and ae.module_ is module


def test_reproducible_and_clonable(digits):
    a = make_ae(max_iter=3).fit(digits).transform(digits[:5])
    est = clone(make_ae(max_iter=3))
    np.testing.assert_array_equal(est.fit(digits).transform(digits[:5]), a)


def test_in_a_pipeline_and_pickled(ae, digits):
    pipe = make_pipeline(MinMaxScaler(), make_ae(max_iter=2)).fit(digits)
    assert pipe.transform(digits[:3]).shape == (3, 4)
    loaded = pickle.loads(pickle.dumps(ae))
    np.testing.assert_array_equal(
        loaded.transform(digits[:5]), ae.transform(digits[:5])
    )


def test_errors(ae, digits):
    with pytest.raises(NotFittedError):
        make_ae().transform(digits)
    with pytest.raises(ValueError, match="features"):
        ae.transform(digits[:, :10])
    with pytest.raises(ValueError, match="n_components"):
        ae.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="likelihood"):
        make_ae(likelihood="bernoulli").fit(digits * 16)


def test_full_covariance_autoencoder_learns_the_residual_correlation():
    import torch

    from skvae import FullCovarianceGaussianLikelihood

    # two pairs of near-copies and a 1-d code: the code holds at most one
    # pair, and the learned noise covariance must correlate the other
    rng = np.random.RandomState(0)
    base = rng.normal(size=(500, 2))
    X = np.repeat(base, 2, axis=1) + 0.05 * rng.normal(size=(500, 4))
    X[::5, 1] = np.nan
    ae = make_ae(n_components=1, covariance="full", missing="mask", max_iter=60)
    ae.fit(X)
    lik = ae.likelihood_.likelihoods[0]
    assert isinstance(lik, FullCovarianceGaussianLikelihood)
    shared = ae.module_.shared.detach().double()
    cov = lik.covariance(torch.cat([torch.zeros(4, dtype=torch.float64), shared]))
    corr = cov / torch.sqrt(torch.outer(cov.diagonal(), cov.diagonal()))
    assert max(abs(corr[0, 1]), abs(corr[2, 3])) > 0.8, corr
    # and the data is far more probable than under one scale per column
    diagonal = make_ae(n_components=1, missing="mask", max_iter=60).fit(X)
    assert ae.history_[-1]["loss"] < diagonal.history_[-1]["loss"] - 1.0
