"""VAEImputer: scikit-learn's checks, pipelines, mixed tables, multiple imputation."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from skvae import VAEImputer, VAETransformer

TINY = dict(n_components=2, hidden_layer_sizes=(16,), max_iter=3, device="cpu")


@parametrize_with_checks(
    [
        VAEImputer(random_state=0, **TINY),
        VAETransformer(random_state=0, missing="mask", **TINY),
    ],
    expected_failed_checks=lambda est: {},
)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def incomplete():
    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    rng = np.random.RandomState(0)
    X_missing = X.copy()
    X_missing[rng.rand(*X.shape) < 0.2] = np.nan
    return X, X_missing, y


def test_fills_only_missing_entries(incomplete):
    X, X_missing, _ = incomplete
    imputer = VAEImputer(random_state=0, **{**TINY, "max_iter": 20})
    X_filled = imputer.fit_transform(X_missing)
    observed = ~np.isnan(X_missing)
    assert not np.isnan(X_filled).any()
    np.testing.assert_array_equal(X_filled[observed], X_missing[observed])
    # better than zero (the mean of standardized data) on the hidden entries
    err = np.sqrt(np.mean((X_filled - X)[~observed] ** 2))
    assert err < np.sqrt(np.mean(X[~observed] ** 2))
    assert imputer.transform(X_missing.astype(np.float32)).dtype == np.float32


def test_in_a_pipeline(incomplete):
    _, X_missing, y = incomplete
    pipe = make_pipeline(VAEImputer(random_state=0, **TINY), LinearRegression())
    assert pipe.fit(X_missing, y).predict(X_missing).shape == y.shape


def test_multiple_imputation(incomplete):
    _, X_missing, _ = incomplete
    imputer = VAEImputer(random_state=0, **TINY).fit(X_missing)
    draws = imputer.sample_imputations(X_missing[:20], n_imputations=4, random_state=0)
    assert draws.shape == (4, 20, 10)
    observed = ~np.isnan(X_missing[:20])
    assert (draws[:, observed] == X_missing[:20][observed]).all()
    assert draws[:, ~observed].std(axis=0).max() > 0
    again = imputer.sample_imputations(X_missing[:20], n_imputations=4, random_state=0)
    np.testing.assert_array_equal(draws, again)
    with pytest.raises(ValueError, match="n_imputations"):
        imputer.sample_imputations(X_missing, n_imputations=0)
    with pytest.raises(TypeError, match="decoder_noise"):
        imputer.sample_imputations(X_missing, decoder_noise="yes")


def _conditional_scales(imputer, rows):
    """Per entry of ``rows``, the standard deviation of p(x | z) given the
    row's observed entries: the learned scale with ``covariance="diagonal"``,
    the Gaussian regression's residual scale with ``"full"``."""
    module = imputer.vae_.module_
    shared = module.shared.detach().double()
    if imputer.covariance == "diagonal":
        scale = torch.nn.functional.softplus(shared).numpy() + 1e-3
        return np.broadcast_to(scale, rows.shape)
    lik = imputer.vae_.likelihood_.likelihoods[0]
    d = rows.shape[1]
    cov = lik.covariance(torch.cat([torch.zeros(d, dtype=torch.float64), shared]))
    cov = cov.numpy()
    out = np.zeros(rows.shape)
    for i, row in enumerate(rows):
        m, o = np.isnan(row), ~np.isnan(row)
        gain = cov[np.ix_(m, o)] @ np.linalg.inv(cov[np.ix_(o, o)])
        out[i, m] = np.sqrt(np.diag(cov[np.ix_(m, m)] - gain @ cov[np.ix_(o, m)]))
    return out


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_multiple_imputation_draws_spread_by_the_decoder_noise(incomplete, covariance):
    _, X_missing, _ = incomplete
    imputer = VAEImputer(
        random_state=0, covariance=covariance, **{**TINY, "max_iter": 20}
    ).fit(X_missing)
    rows = X_missing[:100]
    hidden = np.isnan(rows)
    kwargs = dict(n_imputations=8, random_state=0)
    noisy = imputer.sample_imputations(rows, **kwargs)
    means = imputer.sample_imputations(rows, decoder_noise=False, **kwargs)
    # the same latent draws: the difference is the decoder's noise alone,
    # at about its learned scale given the observed entries
    diff = (noisy - means)[:, hidden]
    expected = _conditional_scales(imputer, rows)[hidden]
    assert 0.7 < np.sqrt(np.mean(diff**2 / expected**2)) < 1.3
    assert noisy[:, hidden].std(axis=0).mean() > means[:, hidden].std(axis=0).mean()


def test_mixed_frame():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    n = 100
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "k": rng.randint(0, 5, n),
            "c": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "s": pd.Series(rng.choice(["u", "v"], n), dtype=object),
            "b": pd.array(rng.rand(n) > 0.5, dtype="boolean"),
        },
        index=np.arange(n) * 2,
    )
    df_missing = df.copy()
    df_missing.loc[df.index[::3], "x"] = np.nan
    df_missing.loc[df.index[::4], "c"] = None
    df_missing.loc[df.index[::5], "s"] = None
    df_missing.loc[df.index[::6], "b"] = pd.NA
    filled = VAEImputer(random_state=0, **TINY).fit(df_missing).transform(df_missing)
    assert not filled.isna().any().any()
    assert (filled.index == df.index).all()
    assert (filled.dtypes == df.dtypes).all()
    observed = df_missing.notna()
    for col in df.columns:
        assert (filled[col][observed[col]] == df_missing[col][observed[col]]).all()
    assert set(filled["c"]) <= set(df["c"])


def test_transform_is_deterministic_and_independent_of_batching(
    incomplete, monkeypatch
):
    import skvae._imputer

    _, X_missing, _ = incomplete
    imputer = VAEImputer(random_state=0, **TINY).fit(X_missing)
    full = imputer.transform(X_missing)
    np.testing.assert_array_equal(full, imputer.transform(X_missing))
    np.testing.assert_allclose(
        imputer.transform(X_missing[5:17]), full[5:17], rtol=1e-12
    )
    # many small passes (the machinery lives in skvae._completion)
    monkeypatch.setattr(skvae._completion, "_IMPUTE_VALUES", 1000)
    np.testing.assert_allclose(imputer.transform(X_missing), full, rtol=1e-12)


def test_one_importance_draw_decodes_the_posterior_mean(incomplete):
    _, X_missing, _ = incomplete
    imputer = VAEImputer(
        random_state=0, n_importance=1, covariance="diagonal", **TINY
    ).fit(X_missing)
    vae = imputer.vae_
    decoded = vae.inverse_transform(vae.transform(X_missing))
    expected = np.where(np.isnan(X_missing), decoded, X_missing)
    np.testing.assert_allclose(imputer.transform(X_missing), expected, rtol=1e-12)
    assert vae.n_importance_train == imputer.n_importance_train == 10


def test_one_importance_draw_regresses_on_the_observed_entries_at_the_mean(
    incomplete,
):
    # with a full covariance the posterior mean's decoding is moved by the
    # Gaussian regression of the missing entries on the observed ones
    _, X_missing, _ = incomplete
    rows = X_missing[:40]
    imputer = VAEImputer(random_state=0, n_importance=1, **TINY).fit(X_missing)
    vae = imputer.vae_
    assert imputer.covariance == vae.covariance == "auto"  # full: 10 columns
    encoded = torch.from_numpy(vae.prepare_input(rows))
    module = vae._inference_module(torch.float64)
    with torch.no_grad():
        params = module.decode(module.encode(encoded)[0])
        plain = vae.tabular_.inverse_transform(vae.likelihood_.mean(params).numpy())
    regressed = imputer.transform(rows)
    hidden = np.isnan(rows)
    assert np.abs(regressed - plain)[hidden].max() > 1e-3
    lik = vae.likelihood_.likelihoods[0]
    d = rows.shape[1]
    with torch.no_grad():
        means = lik.conditional_mean(params, encoded[:, :d], encoded[:, d:]).numpy()
    expected = np.where(hidden, vae.tabular_.inverse_transform(means), rows)
    np.testing.assert_allclose(regressed, expected, rtol=1e-10)


@pytest.mark.parametrize("covariance", ["diagonal", "full"])
def test_transform_is_the_importance_weighted_mean_of_the_decoder_means(
    incomplete, covariance
):
    from skvae._objectives import importance_draws
    from skvae._utils import row_normal_noise

    _, X_missing, _ = incomplete
    rows = X_missing[:6]
    imputer = VAEImputer(
        random_state=0, n_importance=7, covariance=covariance, **TINY
    ).fit(X_missing)
    vae = imputer.vae_
    encoded = vae.prepare_input(rows)
    module = vae._inference_module(torch.float64)
    eps = torch.from_numpy(row_normal_noise(encoded, (7, vae.n_components)))
    with torch.no_grad():
        params, log_w = importance_draws(
            module, vae.likelihood_, torch.from_numpy(encoded), eps
        )
        x = torch.from_numpy(encoded).unsqueeze(1)
        d = rows.shape[1]  # numeric: the data columns, then the indicators
        # given z, E[x_missing | x_observed, z]: the decoder's mean for the
        # diagonal model, moved by the Gaussian regression for the full one
        means = vae.likelihood_.conditional_mean(params, x[..., :d], x[..., d:])
        means = means.numpy()
    weights = np.exp(log_w.numpy() - log_w.numpy().max(1, keepdims=True))
    weights /= weights.sum(1, keepdims=True)
    assert weights.max() > 0.2 and weights.min() < 0.1  # far from uniform
    expected = vae.tabular_.inverse_transform((weights[..., None] * means).sum(1))
    expected = np.where(np.isnan(rows), expected, rows)
    np.testing.assert_allclose(imputer.transform(rows), expected, rtol=1e-10)


def test_only_incomplete_rows_go_through_the_model(incomplete, monkeypatch):
    _, X_missing, _ = incomplete
    imputer = VAEImputer(random_state=0, **TINY).fit(X_missing)
    X = np.nan_to_num(X_missing[:50])
    X[[3, 17], [1, 4]] = np.nan
    seen = []
    original = imputer.vae_.map_batches

    def spy(fn, *arrays):
        seen.append(len(arrays[0]))
        return original(fn, *arrays)

    monkeypatch.setattr(imputer.vae_, "map_batches", spy)
    filled = imputer.transform(X)
    assert seen == [2]
    complete = np.ones(50, bool)
    complete[[3, 17]] = False
    np.testing.assert_array_equal(filled[complete], X[complete])
    monkeypatch.undo()
    np.testing.assert_allclose(
        filled[[3, 17]], imputer.transform(X[[3, 17]]), rtol=1e-12
    )
    assert imputer.transform(X[complete]).shape == (48, 10)  # nothing to fill


def test_sample_imputations_before_fit_says_so(incomplete):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        VAEImputer().sample_imputations(incomplete[1])


def test_full_covariance_recovers_linear_relations_the_latent_space_cannot_hold():
    # six pairs of near-copies, one latent dimension: the diagonal model can
    # hold at most about one pair in z, the full covariance holds them all
    rng = np.random.RandomState(0)
    base = rng.normal(size=(400, 6))
    X = np.repeat(base, 2, axis=1) + 0.1 * rng.normal(size=(400, 12))
    X_missing = X.copy()
    hidden = np.zeros(X.shape, bool)
    hidden[rng.rand(400) < 0.3, 1::2] = True  # one of each pair
    X_missing[hidden] = np.nan
    params = dict(n_components=1, hidden_layer_sizes=(16,), max_iter=40, device="cpu")
    rmse = {}
    for covariance in ("diagonal", "full"):
        imputer = VAEImputer(random_state=0, covariance=covariance, **params)
        filled = imputer.fit_transform(X_missing)
        rmse[covariance] = np.sqrt(np.mean((filled - X)[hidden] ** 2))
    assert rmse["full"] < 0.3 < 0.7 < rmse["diagonal"], rmse


def test_covariance_is_validated(incomplete):
    with pytest.raises(ValueError, match="covariance"):
        VAEImputer(covariance="spherical").fit(incomplete[1])


def test_completions_resample_each_rows_importance_draws(incomplete):
    # n_importance draws per row, once: without decoder noise, every
    # completion of a row is one of those draws' estimates
    _, X_missing, _ = incomplete
    rows = X_missing[:30]
    hidden = np.isnan(rows)
    imputer = VAEImputer(random_state=0, n_importance=3, **TINY).fit(X_missing)
    draws = imputer.sample_imputations(
        rows, n_imputations=40, random_state=0, decoder_noise=False
    )
    for i in np.flatnonzero(hidden.any(axis=1)):
        distinct = np.unique(draws[:, i][:, hidden[i]].round(12), axis=0)
        assert 1 <= len(distinct) <= 3
    assert (
        max(
            len(np.unique(draws[:, i][:, hidden[i]].round(12), axis=0))
            for i in np.flatnonzero(hidden.any(axis=1))
        )
        > 1
    )
    # with one draw, each completion has its own latent point
    single = VAEImputer(random_state=0, n_importance=1, **TINY).fit(X_missing)
    draws = single.sample_imputations(
        rows, n_imputations=6, random_state=0, decoder_noise=False
    )
    i = np.flatnonzero(hidden.any(axis=1))[0]
    assert len(np.unique(draws[:, i][:, hidden[i]].round(12), axis=0)) == 6
