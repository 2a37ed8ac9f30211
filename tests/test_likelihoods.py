"""The likelihood registry, make_likelihood and the likelihoods' own checks."""

import numpy as np
import pytest
import torch

import skvae
from skvae import (
    BernoulliLikelihood,
    CategoricalLikelihood,
    FullCovarianceGaussianLikelihood,
    GaussianLikelihood,
    Likelihood,
    MixedLikelihood,
    VAETransformer,
)
from skvae._likelihoods import (
    AUTO_FULL_MAX,
    LIKELIHOOD_CLASSES,
    LIKELIHOODS,
    builtin,
    make_likelihood,
)

TINY = dict(hidden_layer_sizes=(8,), max_iter=2, device="cpu", random_state=0)


def test_registry_holds_the_aliases_and_every_builtin_class():
    assert LIKELIHOODS == {
        "gaussian": GaussianLikelihood,
        "bernoulli": BernoulliLikelihood,
    }
    assert LIKELIHOOD_CLASSES == {
        cls.__name__: cls
        for cls in (
            GaussianLikelihood,
            FullCovarianceGaussianLikelihood,
            BernoulliLikelihood,
            CategoricalLikelihood,
            MixedLikelihood,
        )
    }
    options = VAETransformer._parameter_constraints["likelihood"][0].options
    assert options == set(LIKELIHOODS)


def test_user_subclasses_stay_out_of_the_registry():
    class Mine(GaussianLikelihood):
        pass

    class Other(Likelihood):
        def n_params(self, n_features):
            return n_features

    assert "Mine" not in LIKELIHOOD_CLASSES and "Other" not in LIKELIHOOD_CLASSES
    assert Mine not in LIKELIHOODS.values()
    with pytest.raises(TypeError, match="Likelihood classes"):
        builtin(int)


def test_make_likelihood_resolves_aliases_and_covariances():
    assert make_likelihood("gaussian", n_features=3) == GaussianLikelihood()
    assert make_likelihood("bernoulli", n_features=3) == BernoulliLikelihood()
    full = FullCovarianceGaussianLikelihood()
    assert make_likelihood("gaussian", covariance="full", n_features=500) == full
    auto = [
        type(make_likelihood("gaussian", covariance="auto", n_features=n))
        for n in (1, AUTO_FULL_MAX, AUTO_FULL_MAX + 1)
    ]
    assert auto == [
        FullCovarianceGaussianLikelihood,
        FullCovarianceGaussianLikelihood,
        GaussianLikelihood,
    ]
    for covariance in ("full", "auto"):
        with pytest.raises(ValueError, match="likelihood='gaussian'"):
            make_likelihood("bernoulli", covariance=covariance, n_features=3)
        with pytest.raises(ValueError, match="likelihood='gaussian'"):
            make_likelihood(GaussianLikelihood(), covariance=covariance, n_features=3)
    with pytest.raises(ValueError, match="covariance must be one of"):
        make_likelihood("gaussian", covariance="spherical", n_features=3)
    with pytest.raises(ValueError, match="likelihood must be one of"):
        make_likelihood("poisson", n_features=3)
    with pytest.raises(TypeError, match="likelihood must be one of"):
        make_likelihood(GaussianLikelihood, n_features=3)


def test_make_likelihood_copies_objects():
    given = MixedLikelihood((GaussianLikelihood(0.5), BernoulliLikelihood()), (2, 1))
    made = make_likelihood(given, n_features=3)
    assert made == given and made is not given
    assert made.likelihoods[0] is not given.likelihoods[0]
    assert make_likelihood("gaussian", n_features=2) is not make_likelihood(
        "gaussian", n_features=2
    )


@pytest.mark.parametrize("cls", [GaussianLikelihood, FullCovarianceGaussianLikelihood])
@pytest.mark.parametrize(
    "value, error",
    [
        (-1.0, ValueError),
        (0, ValueError),
        (np.nan, ValueError),
        (np.inf, ValueError),
        ("0.1", TypeError),
        (True, TypeError),
        (None, TypeError),
    ],
)
def test_min_scale_is_checked_at_construction(cls, value, error):
    with pytest.raises(error, match=f"{cls.__name__}: min_scale"):
        cls(min_scale=value)
    assert cls(min_scale=np.float32(0.5)).min_scale == 0.5


def test_min_scale_set_later_is_checked_by_fit_naming_it():
    X = np.random.RandomState(0).normal(size=(30, 3))
    lik = GaussianLikelihood()
    lik.min_scale = -0.1  # after construction: fit checks again
    vae = VAETransformer(likelihood=lik, **TINY)
    with pytest.raises(ValueError, match="GaussianLikelihood: min_scale") as info:
        vae.fit(X)
    assert "learning_rate_init" not in str(info.value)
    assert not hasattr(vae, "module_") and not hasattr(vae, "n_features_in_")


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(likelihoods=("x",), sizes=(1,)), TypeError, "tuple of likelihoods"),
        (dict(likelihoods=GaussianLikelihood(), sizes=(1,)), TypeError, "likelihoods"),
        (dict(likelihoods=(GaussianLikelihood(),), sizes=(0,)), ValueError, "sizes"),
        (
            dict(likelihoods=(GaussianLikelihood(),), sizes=(1, 2)),
            ValueError,
            "one positive size per likelihood",
        ),
        (dict(likelihoods=(GaussianLikelihood(),), sizes=(True,)), ValueError, "sizes"),
        (
            dict(likelihoods=(GaussianLikelihood(),), sizes=(2,), n_variables=(3,)),
            ValueError,
            "n_variables",
        ),
        (
            dict(likelihoods=(GaussianLikelihood(),), sizes=(2,), masked="yes"),
            TypeError,
            "masked must be a boolean",
        ),
    ],
)
def test_mixed_likelihood_checks_its_parameters(kwargs, error, match):
    with pytest.raises(error, match=f"MixedLikelihood: .*{match}"):
        MixedLikelihood(**kwargs)


def test_mixed_likelihood_of_other_width_is_refused_by_fit_leaving_the_model():
    X = np.random.RandomState(0).normal(size=(40, 4))
    short = MixedLikelihood((GaussianLikelihood(),), (1,))
    with pytest.raises(ValueError, match=r"sizes \(1,\).*X has 4 columns"):
        short.check_n_features(4)
    short.check_n_features(1)
    masked = MixedLikelihood((GaussianLikelihood(),), (2,), masked=True)
    masked.check_n_features(4)  # two data columns and their two indicators

    unfitted = VAETransformer(likelihood=short, **TINY)
    with pytest.raises(ValueError, match=r"sizes \(1,\).*X has 4 columns"):
        unfitted.fit(X)
    assert not [k for k in vars(unfitted) if k.endswith("_")]

    vae = VAETransformer(**TINY).fit(X[:, :3])
    before = {k: v for k, v in vars(vae).items() if k != "module_"}
    weights = {k: v.clone() for k, v in vae.module_.state_dict().items()}
    Z = vae.transform(X[:, :3])
    vae.set_params(likelihood=short)
    with pytest.raises(ValueError, match=r"sizes \(1,\).*X has 4 columns"):
        vae.fit(X)
    assert vae.n_features_in_ == 3
    assert set(vars(vae)) == set(before) | {"module_"}
    for key, value in vae.module_.state_dict().items():
        assert torch.equal(value, weights[key])
    vae.set_params(likelihood="gaussian")
    np.testing.assert_array_equal(vae.transform(X[:, :3]), Z)


def test_mixed_likelihood_of_the_right_width_trains():
    X = np.random.RandomState(0).normal(size=(40, 4))
    X[:, 3] = X[:, 3] > 0
    lik = MixedLikelihood((GaussianLikelihood(), BernoulliLikelihood()), (3, 1))
    vae = VAETransformer(likelihood=lik, **TINY).fit(X)
    assert vae.likelihood_ == lik and vae.likelihood_ is not lik


@pytest.mark.parametrize("partial", [False, True])
def test_incomplete_likelihoods_are_a_type_error_at_the_start_of_fit(partial):
    class NoDistribution(Likelihood):
        def n_params(self, n_features):
            return n_features

    X = np.random.RandomState(0).normal(size=(20, 3))
    for likelihood, missing in [
        (Likelihood(), "n_params\\(\\) and distribution\\(\\)"),
        (NoDistribution(), "must define distribution\\(\\)"),
    ]:
        vae = VAETransformer(likelihood=likelihood, **TINY)
        with pytest.raises(TypeError, match=missing):
            (vae.partial_fit if partial else vae.fit)(X)
        assert not hasattr(vae, "module_")


@pytest.mark.parametrize(
    "likelihood, n_features",
    [
        (skvae.GaussianLikelihood(), 5),
        (skvae.FullCovarianceGaussianLikelihood(), 5),
        (skvae.BernoulliLikelihood(), 5),
    ],
)
def test_weighted_conditional_mean_is_the_weighted_average(likelihood, n_features):
    """The Gaussians condition once on averaged parameters: the same number as
    averaging the conditional means of every draw."""
    from skvae._likelihoods import Likelihood

    gen = torch.Generator().manual_seed(0)
    n, k = 7, 11
    params = torch.randn(
        n, k, likelihood.n_params(n_features), generator=gen, dtype=torch.float64
    )
    shared = likelihood.n_shared_params(n_features)
    if shared:  # shared parameters are the same in every row, as decoded
        params[..., -shared:] = params[0, 0, -shared:]
    x = torch.randn(n, 1, n_features, generator=gen, dtype=torch.float64)
    observed = (torch.rand(n, 1, n_features, generator=gen) > 0.4).double()
    weights = torch.softmax(torch.randn(n, k, generator=gen, dtype=torch.float64), 1)
    fast = likelihood.weighted_conditional_mean(params, x, observed, weights)
    slow = Likelihood.weighted_conditional_mean(
        likelihood, params, x, observed, weights
    )
    assert fast.shape == (n, n_features)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-12)


def test_a_subclass_with_its_own_conditional_mean_gets_the_general_average():
    class Shifted(skvae.GaussianLikelihood):
        def conditional_mean(self, params, x, observed):
            return torch.exp(super().conditional_mean(params, x, observed))

    lik = Shifted()
    gen = torch.Generator().manual_seed(1)
    params = torch.randn(3, 4, 6, generator=gen, dtype=torch.float64)
    x = torch.zeros(3, 1, 3, dtype=torch.float64)
    observed = torch.zeros(3, 1, 3, dtype=torch.float64)
    weights = torch.full((3, 4), 0.25, dtype=torch.float64)
    expected = torch.exp(params[..., :3]).mean(1)
    torch.testing.assert_close(
        lik.weighted_conditional_mean(params, x, observed, weights), expected
    )
