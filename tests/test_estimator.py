"""VAETransformer from the user's side: methods, attributes, errors, pipelines."""

import io
import pickle

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skvae._base
from skvae import BernoulliLikelihood, GaussianLikelihood, Likelihood, VAETransformer
from skvae._objectives import elbo_terms

TINY = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


@pytest.fixture(scope="module")
def fitted(digits):
    return VAETransformer(3, **TINY).fit(digits[0])


# --------------------------------------------------------------- the basics


def test_fit_sets_documented_attributes(fitted, digits):
    X = digits[0]
    assert fitted.n_features_in_ == 64
    assert isinstance(fitted.module_, torch.nn.Module)
    assert fitted.likelihood_ == GaussianLikelihood()
    assert fitted.likelihood == "gaussian"  # the hyperparameter is never rewritten
    assert fitted.device_ == torch.device("cpu")
    assert fitted.n_iter_ == len(fitted.loss_curve_) == len(fitted.history_) == 3
    assert set(fitted.history_[0]) >= {"loss", "recon", "kl", "val_loss"}
    assert fitted.best_loss_ == min(fitted.loss_curve_)
    assert fitted.validation_scores_ is None and fitted.best_validation_score_ is None
    assert fitted.transform(X).shape == (400, 3)


def test_loss_curve_is_the_negative_elbo_and_falls(digits):
    vae = VAETransformer(2, **{**TINY, "max_iter": 15}).fit(digits[0])
    for record in vae.history_:
        assert record["loss"] == pytest.approx(record["recon"] + record["kl"])
        assert record["kl"] > 0
    assert vae.loss_curve_[-1] < vae.loss_curve_[0]


def test_transform_inverse_transform_shapes_and_dtypes(fitted, digits):
    X = digits[0]
    Z = fitted.transform(X)
    assert Z.dtype == np.float64
    assert fitted.inverse_transform(Z).shape == X.shape
    Z32 = fitted.transform(X.astype(np.float32))
    assert Z32.dtype == np.float32
    np.testing.assert_allclose(Z32, Z, rtol=1e-4, atol=1e-5)
    assert fitted.inverse_transform(Z32).dtype == np.float32
    np.testing.assert_array_equal(fitted.fit_transform(X), fitted.transform(X))


def test_inverse_transform_of_transform_reconstructs_better_than_the_mean(digits):
    X = digits[0]
    vae = VAETransformer(
        5,
        **{**TINY, "max_iter": 40, "hidden_layer_sizes": (64,)},
        batch_size=32,
        learning_rate_init=3e-3,
    )
    X_hat = vae.fit(X).inverse_transform(vae.transform(X))
    # Measured 0.32 of the variance; the mean alone leaves all of it.
    assert np.mean((X - X_hat) ** 2) < 0.5 * np.mean((X - X.mean(0)) ** 2)


def test_sample_shapes_and_reproducibility(fitted):
    a = fitted.sample(7, random_state=0)
    assert a.shape == (7, 64) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, fitted.sample(7, random_state=0))
    assert not np.array_equal(a, fitted.sample(7, random_state=1))
    assert fitted.sample().shape == (1, 64)
    with pytest.raises(ValueError, match="n_samples"):
        fitted.sample(0)


def test_score_samples_is_deterministic_and_score_is_its_mean(fitted, digits):
    X = digits[0]
    s = fitted.score_samples(X)
    assert s.shape == (400,) and np.isfinite(s).all()
    np.testing.assert_array_equal(s, fitted.score_samples(X))
    assert fitted.score(X) == pytest.approx(s.mean())
    # Noise depends on the row alone: same numbers in any batch, in any order.
    perm = np.random.RandomState(0).permutation(400)
    np.testing.assert_allclose(fitted.score_samples(X[perm]), s[perm], rtol=1e-12)
    np.testing.assert_allclose(fitted.score_samples(X[5:6]), s[5:6], rtol=1e-12)


def test_score_samples_monte_carlo_noise_is_small(digits):
    X, _ = load_digits(return_X_y=True)
    X = X[:1000] / 16.0
    vae = VAETransformer(4, **{**TINY, "max_iter": 10}).fit(X)
    # Reference: the ELBO averaged over 200 latent draws per row.
    x = torch.as_tensor(X, dtype=torch.float64)
    module = vae._inference_module(torch.float64)
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        draws = [
            -sum(elbo_terms(module, vae.likelihood_, x, generator=g))
            for _ in range(200)
        ]
    reference = torch.stack(draws).mean().item()
    assert abs(vae.score(X) - reference) < 0.5


def test_same_random_state_gives_bitwise_identical_models(digits):
    X = digits[0]
    state = torch.random.get_rng_state()
    a = VAETransformer(2, **TINY).fit(X)
    b = VAETransformer(2, **TINY).fit(X)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    for pa, pb in zip(a.module_.parameters(), b.module_.parameters(), strict=True):
        assert torch.equal(pa, pb)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert a.loss_curve_ == b.loss_curve_
    c = VAETransformer(2, **{**TINY, "random_state": 1}).fit(X)
    assert not np.array_equal(a.transform(X), c.transform(X))


def test_float32_input_is_trained_on_without_a_copy(monkeypatch, digits):
    X = np.ascontiguousarray(digits[0], dtype=np.float32)
    seen = {}
    original = skvae._base.train

    def spy(module, likelihood, optimizer, X_train, **kwargs):
        seen["ptr"] = X_train.X.data_ptr()
        return original(module, likelihood, optimizer, X_train, **kwargs)

    monkeypatch.setattr(skvae._base, "train", spy)
    VAETransformer(2, **TINY).fit(X)
    assert seen["ptr"] == X.ctypes.data


# ------------------------------------------------------------- training modes


def test_partial_fit_builds_then_runs_one_epoch_each(digits):
    X = digits[0]
    vae = VAETransformer(2, **TINY)
    vae.partial_fit(X)
    assert vae.n_iter_ == 1 and len(vae.history_) == 1
    first = [p.detach().clone() for p in vae.module_.parameters()]
    vae.partial_fit(X[:100])
    assert vae.n_iter_ == 2
    assert any(
        not torch.equal(a, b)
        for a, b in zip(first, vae.module_.parameters(), strict=True)
    )
    with pytest.raises(ValueError, match="features"):
        vae.partial_fit(X[:, :10])


def test_warm_start_continues_and_cold_start_restarts(digits):
    X = digits[0]
    vae = VAETransformer(2, **{**TINY, "warm_start": True}).fit(X)
    vae.fit(X)
    assert vae.n_iter_ == 6 and len(vae.loss_curve_) == 6
    vae.set_params(warm_start=False).fit(X)
    assert vae.n_iter_ == 3


def test_early_stopping_attributes_and_best_weights(digits):
    X = digits[0]
    vae = VAETransformer(
        2, **{**TINY, "max_iter": 60}, early_stopping=True, n_iter_no_change=2, tol=0.5
    ).fit(X)
    assert vae.n_iter_ < 60
    assert vae.best_loss_ is None
    assert len(vae.validation_scores_) == vae.n_iter_
    assert vae.best_validation_score_ == max(vae.validation_scores_)
    assert all(r["val_loss"] is not None for r in vae.history_)


def test_convergence_warning_when_max_iter_is_reached(digits):
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        VAETransformer(2, **TINY).fit(digits[0])


def test_kl_warmup_raises_the_weight_linearly(digits):
    vae = VAETransformer(2, **{**TINY, "max_iter": 4}, beta=2.0, kl_warmup=4)
    weights = [r["kl_weight"] for r in vae.fit(digits[0]).history_]
    assert weights == [0.5, 1.0, 1.5, 2.0]


def test_verbose_shows_a_progress_bar_only_when_asked(digits, capsys):
    VAETransformer(2, **TINY).fit(digits[0])
    assert capsys.readouterr().err == ""
    VAETransformer(2, **TINY, verbose=1).fit(digits[0])
    err = capsys.readouterr().err
    assert "VAETransformer" in err and "loss" in err


# ----------------------------------------------------------------- likelihoods


def test_bernoulli_likelihood_fits_and_refuses_data_outside_unit_interval(digits):
    X = digits[0]
    vae = VAETransformer(2, **TINY, likelihood="bernoulli").fit(X)
    assert isinstance(vae.likelihood_, BernoulliLikelihood)
    X_hat = vae.inverse_transform(vae.transform(X))
    assert X_hat.min() >= 0 and X_hat.max() <= 1
    with pytest.raises(ValueError, match=r"needs X in \[0.0, 1.0\]"):
        VAETransformer(2, **TINY, likelihood="bernoulli").fit(X * 16)
    with pytest.raises(ValueError, match=r"needs X in \[0.0, 1.0\]"):
        vae.transform(X * 16)


class LaplaceLikelihood(Likelihood):
    """A likelihood added by a user: one class, nothing else."""

    def n_params(self, n_features):
        return 2 * n_features

    def distribution(self, params):
        loc, raw = params.chunk(2, dim=-1)
        base = torch.distributions.Laplace(
            loc, torch.nn.functional.softplus(raw) + 1e-3
        )
        return torch.distributions.Independent(base, 1)


def test_a_custom_likelihood_object_is_used_everywhere(digits):
    X = digits[0]
    lik = LaplaceLikelihood()
    vae = VAETransformer(2, **TINY, likelihood=lik).fit(X)
    assert isinstance(vae.likelihood_, LaplaceLikelihood)
    assert vae.likelihood is lik and vae.likelihood_ is not lik
    assert np.isfinite(vae.score_samples(X)).all()
    assert vae.sample(3, random_state=0).shape == (3, 64)
    assert clone(vae).likelihood == lik


def test_gaussian_constant_columns_give_a_finite_likelihood():
    X = np.random.RandomState(0).normal(size=(100, 4))
    X[:, 1] = 3.0
    vae = VAETransformer(2, **TINY).fit(X)
    assert np.isfinite(vae.score_samples(X)).all()


# -------------------------------------------------------------- sklearn glue


def test_feature_names_out_and_pandas_output(fitted, digits):
    pd = pytest.importorskip("pandas")
    names = fitted.get_feature_names_out()
    assert list(names) == ["vaetransformer0", "vaetransformer1", "vaetransformer2"]
    df = pd.DataFrame(digits[0], columns=[f"px{i}" for i in range(64)])
    vae = clone(fitted).set_output(transform="pandas").fit(df)
    out = vae.transform(df)
    assert isinstance(out, pd.DataFrame) and list(out.columns) == list(names)
    assert list(vae.feature_names_in_) == list(df.columns)


def test_clone_and_get_params_roundtrip():
    vae = VAETransformer(4, hidden_layer_sizes=(32, 16), beta=0.5, device="cpu")
    params = vae.get_params()
    assert params["hidden_layer_sizes"] == (32, 16) and params["n_components"] == 4
    assert clone(vae).get_params() == params
    with pytest.raises(TypeError):
        VAETransformer(2, (32,))  # only n_components is positional


def test_pipeline_column_transformer_and_grid_search(digits):
    X, y = digits
    pipe = make_pipeline(
        StandardScaler(), VAETransformer(4, **TINY), LogisticRegression(max_iter=200)
    )
    assert pipe.fit(X, y).score(X, y) > 0.3
    ct = ColumnTransformer([("vae", VAETransformer(2, **TINY), slice(0, 32))])
    assert ct.fit_transform(X).shape == (400, 2)
    search = GridSearchCV(VAETransformer(**TINY), {"n_components": [1, 4]}, cv=2)
    search.fit(X)  # no labels: selected by the held-out ELBO
    assert search.best_params_["n_components"] in (1, 4)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()


def test_pickle_and_joblib_roundtrip(fitted, digits):
    X = digits[0]
    expected = (
        fitted.transform(X),
        fitted.score_samples(X),
        fitted.sample(3, random_state=0),
    )
    for loaded in (
        pickle.loads(pickle.dumps(fitted)),
        joblib.load(_joblib_bytes(fitted)),
    ):
        np.testing.assert_array_equal(loaded.transform(X), expected[0])
        np.testing.assert_array_equal(loaded.score_samples(X), expected[1])
        np.testing.assert_array_equal(loaded.sample(3, random_state=0), expected[2])
        loaded.partial_fit(X)  # the optimizer came back too
        assert loaded.n_iter_ == fitted.n_iter_ + 1


def _joblib_bytes(obj):
    buffer = io.BytesIO()
    joblib.dump(obj, buffer)
    buffer.seek(0)
    return buffer


def test_pickled_state_holds_cpu_tensors_only(fitted):
    state = fitted.__getstate__()
    tensors = list(state["module_"].state_dict().values())
    tensors += [
        v
        for s in state["optimizer_"]["state"].values()
        for v in s.values()
        if torch.is_tensor(v)
    ]
    assert tensors and all(t.device.type == "cpu" for t in tensors)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN"),
        (np.array([[1.0, np.inf], [0.0, 1.0]]), "infinity"),
        (np.array([1.0, 2.0, 3.0]), "2D array"),
        (np.zeros((2, 2, 2)), "dim 3"),
        (np.array([["a", "b"], ["c", "d"]]), "could not convert|numeric"),
        (np.zeros((0, 2)), "0 sample"),
    ],
)
def test_fit_refuses_bad_data_with_a_clear_error(X, match):
    with pytest.raises(ValueError, match=match):
        VAETransformer(**TINY).fit(X)


def test_methods_refuse_the_wrong_number_of_features(fitted, digits):
    X = digits[0]
    for method in ("transform", "score_samples", "score"):
        with pytest.raises(ValueError, match="64 features"):
            getattr(fitted, method)(X[:, :10])
    with pytest.raises(ValueError, match="n_components=3"):
        fitted.inverse_transform(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        fitted.inverse_transform(np.full((2, 3), np.nan))


def test_failed_fit_leaves_the_fitted_model_untouched(fitted, digits):
    model = clone(fitted).fit(digits[0])
    before = model.transform(digits[0])
    with pytest.raises(ValueError):
        model.fit(np.full((5, 64), np.nan))
    np.testing.assert_array_equal(model.transform(digits[0]), before)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes"),
        ({"likelihood": "poisson"}, "likelihood"),
        ({"activation": "swish"}, "activation"),
        ({"device": "no-such-device"}, "device"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
    ],
)
def test_bad_hyperparameters_are_refused(params, match, digits):
    with pytest.raises(ValueError, match=match):
        VAETransformer(**{**TINY, **params}).fit(digits[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_clearly(digits):
    with pytest.raises(ValueError, match="CUDA is not available"):
        VAETransformer(**{**TINY, "device": "cuda"}).fit(digits[0])


def test_early_stopping_needs_validation_rows():
    with pytest.raises(ValueError, match="validation"):
        VAETransformer(**TINY, early_stopping=True).fit(np.zeros((3, 2)))


def test_unfitted_methods_raise_not_fitted():
    from sklearn.exceptions import NotFittedError

    vae = VAETransformer()
    for call in (
        lambda: vae.transform(np.zeros((2, 2))),
        lambda: vae.inverse_transform(np.zeros((2, 2))),
        lambda: vae.sample(2),
        lambda: vae.score_samples(np.zeros((2, 2))),
    ):
        with pytest.raises(NotFittedError):
            call()
