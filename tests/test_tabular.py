"""Mixed column types and missing values: TabularEncoder, MixedLikelihood and
VAETransformer on DataFrames and incomplete arrays."""

import pickle

import numpy as np
import pytest
import torch

import skvae
from skvae import (
    CategoricalLikelihood,
    GaussianLikelihood,
    MixedLikelihood,
    VAETransformer,
)
from skvae._tabular import TabularEncoder

pd = pytest.importorskip("pandas")


def _frame(n=120, seed=0):
    rng = np.random.RandomState(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "count": rng.randint(0, 10, n),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "shape": pd.Series(rng.choice(["round", "square"], n), dtype=object),
            "flag": rng.rand(n) > 0.5,
            "y": rng.normal(size=n).astype(np.float32),
        }
    )


def _vae(**kwargs):
    params = dict(
        n_components=2,
        hidden_layer_sizes=(16,),
        max_iter=3,
        random_state=0,
        device="cpu",
    )
    return VAETransformer(**{**params, **kwargs})


# ------------------------------------------------------------- likelihoods


def test_categorical_likelihood_matches_torch():
    lik = CategoricalLikelihood()
    logits = torch.randn(5, 4)
    x = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3, 1]), 4).float()
    expected = torch.distributions.OneHotCategorical(logits=logits).log_prob(x)
    torch.testing.assert_close(lik.log_prob(logits, x), expected)
    torch.testing.assert_close(lik.mean(logits).sum(-1), torch.ones(5))
    assert lik.log_prob(logits, torch.zeros(5, 4)).abs().max() == 0


def test_mixed_likelihood_sums_blocks_and_slices_shared_params():
    gauss, cat = GaussianLikelihood(), CategoricalLikelihood()
    lik = MixedLikelihood((gauss, cat), (2, 3), n_variables=(2, 1))
    own_g, own_c, shared = torch.randn(4, 2), torch.randn(4, 3), torch.randn(4, 2)
    params = torch.cat([own_g, own_c, shared], dim=-1)
    x = torch.cat([torch.randn(4, 2), torch.eye(3)[[0, 1, 2, 0]]], dim=-1)
    expected = gauss.log_prob(torch.cat([own_g, shared], -1), x[:, :2])
    expected = expected + cat.log_prob(own_c, x[:, 2:])
    torch.testing.assert_close(lik.log_prob(params, x), expected)
    assert lik.n_params(5) == 7 and lik.n_shared_params(5) == 2


def test_masked_likelihood_skips_missing_entries():
    lik = MixedLikelihood(
        (GaussianLikelihood(), CategoricalLikelihood()),
        (2, 3),
        n_variables=(2, 1),
        masked=True,
    )
    params = torch.randn(3, 7)
    data = torch.cat([torch.randn(3, 2), torch.eye(3)], dim=-1)
    observed = torch.ones(3, 3)
    full = lik.log_prob(params, torch.cat([data, observed], -1))
    unmasked = MixedLikelihood(lik.likelihoods, lik.sizes, lik.n_variables)
    torch.testing.assert_close(full, unmasked.log_prob(params, data))
    # hiding a value changes nothing but removing its term
    hidden = observed.clone()
    hidden[:, 0] = 0
    changed = data.clone()
    changed[:, 0] = 100.0
    a = lik.log_prob(params, torch.cat([data, hidden], -1))
    b = lik.log_prob(params, torch.cat([changed, hidden], -1))
    torch.testing.assert_close(a, b)
    assert (a > full).any() or (a < full).any()


# ----------------------------------------------------------------- encoder


def test_encoder_round_trip_keeps_columns_and_dtypes():
    df = _frame(30)
    enc = TabularEncoder().fit(df)
    Z = enc.transform(df)
    assert Z.shape == (30, 1 + 1 + 3 + 2 + 1 + 1)
    back = enc.inverse_transform(Z)
    assert list(back.columns) == list(df.columns)
    assert (back.dtypes == df.dtypes).all()
    pd.testing.assert_frame_equal(back, df, check_exact=False, atol=1e-5)


def test_encoder_missing_values_become_indicators():
    df = _frame(10)
    df.loc[0, "x"] = np.nan
    df.loc[1, "colour"] = None
    with pytest.raises(ValueError, match="missing"):
        TabularEncoder().fit(df)
    enc = TabularEncoder(allow_missing=True).fit(df)
    Z = enc.transform(df)
    indicators = Z[:, -df.shape[1] :]
    assert indicators.shape == (10, 6)
    assert indicators.sum() == 10 * 6 - 2
    assert not np.isnan(Z).any()


# --------------------------------------------------------------- estimator


def test_fit_on_mixed_frame_samples_the_same_table():
    df = _frame()
    vae = _vae().fit(df)
    assert vae.n_features_in_ == 6
    assert list(vae.feature_names_in_) == list(df.columns)
    assert isinstance(vae.likelihood_, MixedLikelihood)
    assert vae.transform(df).shape == (len(df), 2)
    for out in (
        vae.sample(20, random_state=0),
        vae.inverse_transform(np.zeros((3, 2))),
    ):
        assert list(out.columns) == list(df.columns)
        assert (out.dtypes == df.dtypes).all()
        assert set(out["colour"].cat.categories) == set(df["colour"].cat.categories)
        assert set(out["shape"]) <= set(df["shape"])
        assert out["count"].between(df["count"].min(), df["count"].max()).all()
    assert vae.sample(2, X=df[:3], random_state=0).shape == (6, 6)
    assert vae.interpolate(df[:2], df[2:4], n_steps=3).shape == (6, 6)
    assert np.isfinite(vae.score_samples(df[:5])).all()
    assert np.isfinite(vae.score(df, n_importance=3))
    clone = pickle.loads(pickle.dumps(vae))
    np.testing.assert_allclose(clone.transform(df), vae.transform(df))


def test_mixed_frame_column_checks(tmp_path):
    df = _frame()
    vae = _vae().fit(df)
    with pytest.raises(ValueError, match="feature names"):
        vae.transform(df[df.columns[::-1]])
    with pytest.raises(ValueError, match="likelihood='gaussian'"):
        _vae(likelihood="bernoulli").fit(df)
    # saved with its table encoding (tests/test_persistence.py has the details)
    vae.save(tmp_path / "mixed.safetensors")
    loaded = skvae.load(tmp_path / "mixed.safetensors")
    pd.testing.assert_frame_equal(
        loaded.sample(5, random_state=0), vae.sample(5, random_state=0)
    )


def test_numeric_frame_is_a_table_and_arrays_unchanged():
    df = _frame().drop(columns=["colour", "shape", "flag"])
    vae = _vae().fit(df)  # every DataFrame is a table under the Gaussian default
    assert hasattr(vae, "tabular_")
    assert isinstance(vae.sample(3, random_state=0), pd.DataFrame)
    # refitting on an array drops the table encoding
    vae.fit(df.to_numpy())
    assert not hasattr(vae, "tabular_")
    assert isinstance(vae.sample(3, random_state=0), np.ndarray)
    # another likelihood models a DataFrame of numbers as given
    unit = (df - df.min()) / (df.max() - df.min())
    bernoulli = _vae(likelihood="bernoulli").fit(unit)
    assert not hasattr(bernoulli, "tabular_")


def test_missing_mask_on_frame_and_array():
    df = _frame()
    df.loc[::3, "x"] = np.nan
    df.loc[::4, "colour"] = None
    df.loc[::5, "shape"] = None
    with pytest.raises(ValueError, match="missing"):
        _vae().fit(df)
    vae = _vae(missing="mask").fit(df)
    assert vae.__sklearn_tags__().input_tags.allow_nan
    assert np.isfinite(vae.transform(df)).all()
    sample = vae.sample(10, random_state=0)
    assert not sample.isna().any().any()

    X = np.random.RandomState(0).normal(size=(80, 4))
    X[::3, 1] = np.nan
    vae = _vae(missing="mask").fit(X)
    assert vae.transform(X.astype(np.float32)).dtype == np.float32
    assert np.isfinite(vae.inverse_transform(vae.transform(X))).all()
    with pytest.raises(ValueError, match="infinity"):
        vae.transform(np.full((2, 4), np.inf))


def test_masked_training_is_reproducible():
    X = np.random.RandomState(0).normal(size=(60, 3))
    X[:30, 2] = np.nan
    a = _vae(missing="mask").fit(X)
    b = _vae(missing="mask").fit(X)
    np.testing.assert_allclose(a.transform(X), b.transform(X))
    assert np.isfinite(a.loss_curve_).all()


# ---------------------------------------------------------- quantile scaling


@pytest.mark.parametrize(
    "values",
    [
        np.random.RandomState(0).lognormal(0, 1, 3000),
        np.r_[np.random.RandomState(1).normal(-3, 0.3, 500), np.full(300, 2.0)],
        np.arange(7.0),
    ],
)
def test_quantile_encoding_is_standard_normal_and_inverts(values):
    enc = TabularEncoder(numeric="quantile").fit(values[:, None])
    encoded = enc.transform(values[:, None])[:, 0]
    assert abs(encoded.mean()) < 0.05
    if len(np.unique(values)) == len(values) > 1000:  # no ties, many rows
        assert abs(encoded.std() - 1) < 0.05
    np.testing.assert_allclose(enc.inverse_transform(encoded[:, None])[:, 0], values)
    # decoded values never leave the fitted range, however far out the latent
    far = enc.inverse_transform(np.array([[-40.0], [40.0]]))[:, 0]
    np.testing.assert_array_equal(far, [values.min(), values.max()])


def test_quantile_encoding_of_degenerate_columns():
    for values in (np.full(5, 3.0), np.array([1.0])):
        enc = TabularEncoder(numeric="quantile").fit(values[:, None])
        np.testing.assert_array_equal(enc.transform(values[:, None]), 0.0)
        np.testing.assert_array_equal(
            enc.inverse_transform(np.array([[-2.0], [2.0]]))[:, 0], values[0]
        )


def test_quantile_scaling_keeps_integer_and_missing_columns():
    df = _frame()
    df.loc[::7, "x"] = np.nan
    vae = _vae(numeric_scaling="quantile", missing="mask").fit(df)
    out = vae.sample(50, random_state=0)
    assert list(out.dtypes) == list(df.dtypes)
    assert out["count"].between(df["count"].min(), df["count"].max()).all()
    assert not out.isna().any().any()
    assert np.isfinite(vae.transform(df)).all()


def test_quantile_scaling_sends_arrays_through_the_table_encoder():
    X = np.random.RandomState(0).lognormal(size=(60, 3))
    vae = _vae(numeric_scaling="quantile").fit(X)
    assert hasattr(vae, "tabular_")
    out = vae.inverse_transform(vae.transform(X))
    assert isinstance(out, np.ndarray) and out.shape == X.shape
    assert (out >= X.min(0)).all() and (out <= X.max(0)).all()
    assert not hasattr(_vae().fit(X), "tabular_")  # standard: modelled as given
    with pytest.raises(ValueError, match="numeric_scaling='quantile'"):
        _vae(numeric_scaling="quantile", likelihood="bernoulli").fit(X / X.max())


def test_quantile_scaling_samples_both_modes_of_a_bimodal_column():
    rng = np.random.RandomState(0)
    n = 1000
    x = np.where(rng.rand(n) < 0.5, rng.normal(-3, 0.3, n), rng.normal(3, 0.3, n))
    df = pd.DataFrame({"x": x, "c": pd.Categorical(rng.choice(["a", "b"], n))})
    between = {}
    for scaling in ("standard", "quantile"):
        vae = _vae(
            numeric_scaling=scaling, hidden_layer_sizes=(32, 32), max_iter=40
        ).fit(df)
        # Draws from p(x | z), not decoded means: x is independent of c and,
        # quantile-scaled, exactly Gaussian, so the best model ignores z; the
        # data-aware start begins there and the decoded means sit at one mode.
        sample = vae.sample(n, random_state=0, decoder_noise=True)["x"]
        between[scaling] = np.mean(np.abs(sample) < 1.5)  # no real row is there
        assert (sample < 0).mean() == pytest.approx(0.5, abs=0.15)
    assert between["quantile"] < 0.02
    assert between["quantile"] < between["standard"]


def test_sample_with_decoder_noise_draws_categories_by_their_probability():
    rng = np.random.RandomState(0)
    n = 600
    # a rare category that the decoder's most probable value never picks
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "c": pd.Categorical(rng.choice(["common", "rare"], n, p=[0.85, 0.15])),
        }
    )
    vae = _vae(max_iter=60, hidden_layer_sizes=(16,)).fit(df)
    draws = vae.sample(2000, random_state=0, decoder_noise=True)
    assert list(draws.dtypes) == list(df.dtypes)
    assert (draws["c"] == "rare").mean() == pytest.approx(0.15, abs=0.08)
    means = vae.sample(2000, random_state=0, decoder_noise=False)
    assert (means["c"] == "rare").mean() < (draws["c"] == "rare").mean()
    # a table's default is the draws, which keep the minority's share
    default = vae.sample(2000, random_state=0)
    pd.testing.assert_frame_equal(default, draws)


def test_decoder_noise_auto_gives_means_for_arrays():
    X = np.random.RandomState(0).normal(size=(60, 3))
    vae = _vae(max_iter=3, hidden_layer_sizes=(8,)).fit(X)
    np.testing.assert_array_equal(
        vae.sample(5, random_state=0),
        vae.sample(5, random_state=0, decoder_noise=False),
    )
    assert not np.array_equal(
        vae.sample(5, random_state=0), vae.sample(5, random_state=0, decoder_noise=True)
    )
    for bad in ("yes", 1, None):
        with pytest.raises(
            TypeError, match="decoder_noise must be True, False or 'auto'"
        ):
            vae.sample(5, decoder_noise=bad)


def test_numeric_scaling_auto_is_quantile_for_frames_and_standard_for_arrays():
    rng = np.random.RandomState(0)
    df = pd.DataFrame(
        {"x": rng.lognormal(size=80), "c": pd.Categorical(rng.choice(["a", "b"], 80))}
    )
    vae = _vae(max_iter=2, hidden_layer_sizes=(8,)).fit(df)
    assert vae.numeric_scaling == "auto" and vae.tabular_.numeric == "quantile"
    arr = _vae(max_iter=2, hidden_layer_sizes=(8,)).fit(rng.normal(size=(80, 2)))
    assert not hasattr(arr, "tabular_")  # an array is modelled as given
    masked = _vae(max_iter=2, hidden_layer_sizes=(8,), missing="mask")
    assert masked.fit(rng.normal(size=(80, 2))).tabular_.numeric == "standard"


def test_object_column_of_booleans_with_missing_values_is_boolean(tmp_path):
    import skvae
    from skvae import VAEImputer

    rng = np.random.RandomState(0)
    n = 80
    flags = rng.rand(n) > 0.5
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            # what pandas makes of a boolean column with gaps
            "b": pd.Series(
                [None if i % 5 == 0 else bool(v) for i, v in enumerate(flags)],
                dtype=object,
            ),
        }
    )
    imputer = VAEImputer(n_components=2, hidden_layer_sizes=(8,), max_iter=2)
    filled = imputer.set_params(random_state=0).fit(df).transform(df)
    assert type(imputer.vae_.tabular_.kinds_[1]).__name__ == "_Boolean"
    assert filled["b"].dtype == object and not filled["b"].isna().any()
    assert set(filled["b"]) <= {True, False}
    assert filled["b"][df["b"].notna()].equals(df["b"][df["b"].notna()])
    imputer.save(tmp_path / "imputer.safetensors")
    again = skvae.load(tmp_path / "imputer.safetensors").transform(df)
    assert again.equals(filled)


def test_frame_model_given_an_array_says_so():
    # a table of numbers takes an array of its columns, with sklearn's warning
    df = _frame()[["x", "y"]]
    vae = _vae(missing="mask").fit(df)
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        got = vae.transform(df.to_numpy())
    np.testing.assert_array_equal(got, vae.transform(df))
    # a mixed table cannot be read from an array
    mixed = _vae().fit(_frame())
    with pytest.raises(TypeError, match="fitted on a DataFrame.*not ndarray"):
        mixed.transform(np.zeros((3, 6)))


def test_full_covariance_models_the_numeric_block_of_a_table():
    from skvae import (
        BernoulliLikelihood,
        CategoricalLikelihood,
        FullCovarianceGaussianLikelihood,
        GaussianLikelihood,
    )

    rng = np.random.RandomState(0)
    n = 120
    x = rng.normal(size=n)
    df = pd.DataFrame(
        {
            "x": x,
            "y": x + 0.1 * rng.normal(size=n),
            "k": rng.randint(0, 4, n),
            "c": pd.Categorical(rng.choice(["a", "b"], n)),
            "b": rng.rand(n) > 0.5,
        }
    )
    df.loc[::4, "y"] = np.nan
    vae = _vae(covariance="full", missing="mask").fit(df)
    blocks = vae.likelihood_.likelihoods
    assert [type(b) for b in blocks] == [
        FullCovarianceGaussianLikelihood,
        BernoulliLikelihood,
        CategoricalLikelihood,
    ]
    assert vae.likelihood_.sizes[0] == 3  # x, y and the integer column k
    assert np.isfinite(vae.score_samples(df)).all()
    sampled = vae.sample(20, decoder_noise=True, random_state=0)
    assert list(sampled.columns) == list(df.columns)
    assert (sampled.dtypes == df.dtypes).all()
    diagonal = _vae(missing="mask").fit(df).likelihood_.likelihoods[0]
    assert type(diagonal) is GaussianLikelihood


def test_full_covariance_on_arrays_and_what_it_refuses():
    from skvae import FullCovarianceGaussianLikelihood, GaussianLikelihood

    X = np.random.RandomState(0).normal(size=(60, 3))
    vae = _vae(covariance="full").fit(X)
    assert not hasattr(vae, "tabular_")  # numeric arrays are modelled as given
    assert vae.likelihood_ == FullCovarianceGaussianLikelihood()
    assert vae.module_.shared.numel() == 6
    assert vae.sample(4, decoder_noise=True, random_state=0).shape == (4, 3)
    assert np.isfinite(vae.score(X))
    for likelihood in ("bernoulli", GaussianLikelihood()):
        with pytest.raises(
            ValueError, match="covariance='full'.*likelihood='gaussian'"
        ):
            _vae(covariance="full", likelihood=likelihood).fit(X / 10 + 0.5)
    with pytest.raises(ValueError, match="covariance"):
        _vae(covariance="spherical").fit(X)
    # a refused refit leaves the fitted model as it was
    before = vae.transform(X)
    vae.set_params(likelihood="bernoulli")
    with pytest.raises(ValueError, match="likelihood='gaussian'"):
        vae.fit(X / 10 + 0.5)
    vae.set_params(likelihood="gaussian")
    np.testing.assert_array_equal(vae.transform(X), before)


def test_auto_covariance_is_full_up_to_64_numeric_columns():
    from skvae import FullCovarianceGaussianLikelihood, GaussianLikelihood

    rng = np.random.RandomState(0)
    for width, expected in [
        (64, FullCovarianceGaussianLikelihood),
        (65, GaussianLikelihood),
    ]:
        X = rng.normal(size=(30, width))
        vae = _vae(covariance="auto", max_iter=1).fit(X)  # a plain array
        assert type(vae.likelihood_) is expected
        X[::3, 0] = np.nan
        masked = _vae(covariance="auto", missing="mask", max_iter=1).fit(X)
        assert type(masked.likelihood_.likelihoods[0]) is expected
    # on a table only the numeric columns count
    df = pd.DataFrame(rng.normal(size=(30, 64)), columns=[f"x{j}" for j in range(64)])
    df["c"] = pd.Categorical(rng.choice(["a", "b"], 30))
    vae = _vae(covariance="auto", max_iter=1).fit(df)
    assert type(vae.likelihood_.likelihoods[0]) is FullCovarianceGaussianLikelihood


def test_the_defaults_on_a_tiny_table_keep_a_minority_share():
    # every default: "auto" latents, quantile scaling, draws in sample, and a
    # plateau that spans 50 steps on 2 mini-batches per epoch
    rng = np.random.RandomState(0)
    n = 150
    c = rng.choice(["common", "rare"], n, p=[0.8, 0.2])
    df = pd.DataFrame(
        {"x": rng.normal(size=n) + 2 * (c == "rare"), "c": pd.Categorical(c)}
    )
    vae = VAETransformer(hidden_layer_sizes=(16,), random_state=0).fit(df)
    assert vae.n_latent_ == 2 and 1 <= vae.n_components_ <= 2
    assert vae.tabular_.numeric == "quantile"
    assert vae.n_iter_ > 25  # more than the 50 steps of the plateau
    rows = vae.sample(1000, random_state=0)
    assert list(rows.dtypes) == list(df.dtypes)
    real = (df["c"] == "rare").mean()
    assert (rows["c"] == "rare").mean() == pytest.approx(real, abs=0.08)
    assert rows["x"].std() == pytest.approx(df["x"].std(), rel=0.25)
