"""latent_density: sample draws latents from the prior or a fitted mixture.

``"auto"`` fits the mixture for tables (DataFrames) and keeps the prior for
arrays; ``"mixture"`` and ``"prior"`` force either. The mixture is fitted to
draws from q(z | x) for the training rows, stored as weights, means and
Cholesky factors, saved and checked by the file format.
"""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.datasets import load_digits
from test_hostile_files import load_error, rewrite

import skvae
from skvae import ConditionalVAE, VAEImputer, VAETransformer
from skvae._latent_density import MIXTURE_COMPONENTS, draw_latents
from skvae._utils import make_generator

TINY = dict(hidden_layer_sizes=(16,), max_iter=30, random_state=0, device="cpu")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        yield


@pytest.fixture(scope="module")
def frame():
    rng = np.random.RandomState(0)
    n = 150
    a = rng.randn(n)
    return pd.DataFrame(
        {
            "a": a,
            "b": 2 * a + 0.3 * rng.randn(n),
            "c": rng.gamma(2.0, size=n),
            "kind": pd.Categorical(np.where(a > 0.5, "high", "low")),
        }
    )


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:300] / 16


@pytest.fixture(scope="module")
def table_vae(frame):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return VAETransformer(**TINY).fit(frame)


def _check_mixture(mixture, k):
    assert set(mixture) == {"weights", "means", "scale_tril"}
    weights, means, tril = mixture["weights"], mixture["means"], mixture["scale_tril"]
    m = len(weights)
    assert 1 <= m <= MIXTURE_COMPONENTS
    assert weights.dtype == means.dtype == tril.dtype == np.float64
    assert means.shape == (m, k) and tril.shape == (m, k, k)
    assert np.all(weights >= 0) and abs(weights.sum() - 1) < 1e-12
    assert not np.triu(tril, 1).any()
    assert np.all(np.diagonal(tril, axis1=1, axis2=2) > 0)


# ------------------------------------------------------------ which density


def test_auto_fits_a_mixture_for_tables_only(table_vae, digits):
    assert table_vae.get_params()["latent_density"] == "auto"
    _check_mixture(table_vae.latent_mixture_, table_vae.n_components_)
    assert VAETransformer(**TINY).fit(digits).latent_mixture_ is None


def test_mixture_and_prior_force_either(frame, digits):
    forced = VAETransformer(2, latent_density="mixture", **TINY).fit(digits)
    _check_mixture(forced.latent_mixture_, 2)
    prior = VAETransformer(latent_density="prior", **TINY).fit(frame)
    assert prior.latent_mixture_ is None


def test_mixture_covers_the_columns_up_to_the_last_active_one(digits):
    est = VAETransformer(8, latent_density="mixture", **TINY).fit(digits)
    active = np.flatnonzero(est.kl_per_component_ > 0.01)
    k = active[-1] + 1 if active.size else 1
    assert est.latent_mixture_["means"].shape[1] == k


def test_bad_latent_density_is_refused_by_name(digits):
    est = VAETransformer(latent_density="posterior", **TINY)
    with pytest.raises(ValueError, match="latent_density"):
        est.fit(digits)
    assert not hasattr(est, "module_")


# ------------------------------------------------------ what it is fitted to


def test_mixture_matches_the_aggregate_posterior(digits):
    est = VAETransformer(2, latent_density="mixture", **TINY).fit(digits)
    mixture = est.latent_mixture_
    mean, std = est.encode(digits)
    # the aggregate posterior's mean and covariance: of the codes' means,
    # plus the mean posterior variance
    want_mean = mean.mean(axis=0)
    want_cov = np.cov(mean.T) + np.diag((std**2).mean(axis=0))
    got_mean = mixture["weights"] @ mixture["means"]
    covs = mixture["scale_tril"] @ np.swapaxes(mixture["scale_tril"], 1, 2)
    centred = mixture["means"] - got_mean
    got_cov = np.einsum("m,mij->ij", mixture["weights"], covs) + np.einsum(
        "m,mi,mj->ij", mixture["weights"], centred, centred
    )
    scale = np.sqrt(np.diag(want_cov))
    np.testing.assert_allclose(got_mean, want_mean, atol=0.1 * scale.max())
    np.testing.assert_allclose(got_cov, want_cov, rtol=0.15, atol=0.05)


def test_fit_is_reproducible_and_the_mixture_depends_on_the_seed(frame, table_vae):
    again = VAETransformer(**TINY).fit(frame)
    for key, value in table_vae.latent_mixture_.items():
        np.testing.assert_array_equal(again.latent_mixture_[key], value)
    other = VAETransformer(**{**TINY, "random_state": 1}).fit(frame)
    assert not np.array_equal(
        other.latent_mixture_["means"], table_vae.latent_mixture_["means"]
    )


def test_partial_fit_refits_the_mixture(frame):
    est = VAETransformer(**TINY).partial_fit(frame)
    first = est.latent_mixture_["means"].copy()
    est.partial_fit(frame)
    assert est.n_iter_ == 2
    assert not np.array_equal(est.latent_mixture_["means"], first)


# ------------------------------------------------------------------ sampling


def test_draw_latents_follows_the_mixture():
    mixture = {
        "weights": np.array([0.25, 0.75]),
        "means": np.array([[-4.0], [4.0]]),
        "scale_tril": np.array([[[0.5]], [[0.1]]]),
    }
    z = draw_latents(mixture, 20_000, 3, make_generator(0))
    assert z.shape == (20_000, 3) and z.dtype == np.float64
    low = z[:, 0] < 0
    assert abs(low.mean() - 0.25) < 0.02
    assert abs(z[low, 0].std() - 0.5) < 0.03 and abs(z[~low, 0].std() - 0.1) < 0.01
    # the columns past the mixture's: N(0, I)
    assert abs(z[:, 1:].std() - 1) < 0.03
    # without a mixture: the prior draws of before
    prior = draw_latents(None, 5, 3, make_generator(0))
    want = torch.randn((5, 3), generator=make_generator(0), dtype=torch.float64)
    np.testing.assert_array_equal(prior, want.numpy())


def test_sample_draws_from_the_fitted_mixture(digits):
    est = VAETransformer(2, latent_density="mixture", **TINY).fit(digits)
    # a mixture of one narrow component: every row decodes that point
    point = np.array([[1.5, -0.5]])
    est.latent_mixture_ = {
        "weights": np.array([1.0]),
        "means": point,
        "scale_tril": np.array([np.eye(2) * 1e-9]),
    }
    rows = est.sample(4, random_state=0)
    np.testing.assert_allclose(rows, np.repeat(est.inverse_transform(point), 4, 0))


def test_sample_is_reproducible_and_returns_the_table(table_vae, frame):
    a = table_vae.sample(20, random_state=3)
    assert isinstance(a, pd.DataFrame) and list(a.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(a, table_vae.sample(20, random_state=3))


def test_set_params_after_fit_changes_nothing_and_save_refuses(frame, tmp_path):
    est = VAETransformer(**TINY).fit(frame)
    before = est.sample(10, random_state=0)
    est.set_params(latent_density="prior")
    pd.testing.assert_frame_equal(est.sample(10, random_state=0), before)
    with pytest.raises(ValueError, match="latent_mixture_"):
        est.save(tmp_path / "changed.skvae")


def test_a_refused_fit_keeps_the_mixture(table_vae, frame):
    est = pickle.loads(pickle.dumps(table_vae))
    before = {k: v.copy() for k, v in est.latent_mixture_.items()}
    with pytest.raises(ValueError):
        est.fit(frame.assign(a=np.nan))  # missing values, missing="error"
    with pytest.raises(ValueError):
        est.set_params(max_iter=0).fit(frame)
    for key, value in before.items():
        np.testing.assert_array_equal(est.latent_mixture_[key], value)


# ------------------------------------------------- the other estimators


def test_conditional_vae_and_imputer_keep_the_prior(frame, digits):
    y = (digits[:, 30] > 0.5).astype(int)
    cvae = ConditionalVAE(2, **TINY).fit(digits, y)
    assert "latent_density" not in cvae.get_params()
    assert not hasattr(cvae, "latent_mixture_")
    gaps = frame.copy()
    gaps.iloc[::7, 0] = np.nan
    imputer = VAEImputer(max_iter=3, random_state=0, device="cpu").fit(gaps)
    assert imputer.vae_.latent_density == "prior"
    assert imputer.vae_.latent_mixture_ is None


# ------------------------------------------------------------------- files


def test_save_load_and_pickle_keep_the_mixture(table_vae, tmp_path):
    path = tmp_path / "table.skvae"
    table_vae.save(path)
    for loaded in (skvae.load(path), pickle.loads(pickle.dumps(table_vae))):
        for key, value in table_vae.latent_mixture_.items():
            np.testing.assert_array_equal(loaded.latent_mixture_[key], value)
        pd.testing.assert_frame_equal(
            loaded.sample(7, random_state=1), table_vae.sample(7, random_state=1)
        )


def test_a_file_from_before_latent_density_loads_as_the_prior(table_vae, tmp_path):
    path = tmp_path / "table.skvae"
    table_vae.save(path)

    def older(doc):
        del doc["params"]["latent_density"]
        del doc["attributes"]["latent_mixture_"]

    loaded = skvae.load(rewrite(path, tmp_path / "older.skvae", doc=older))
    assert loaded.latent_density == "prior"
    assert not hasattr(loaded, "latent_mixture_")
    prior = pickle.loads(pickle.dumps(table_vae))
    prior.latent_mixture_ = None
    pd.testing.assert_frame_equal(
        loaded.sample(5, random_state=0), prior.sample(5, random_state=0)
    )


def _mixture_items(doc):
    return dict(doc["attributes"]["latent_mixture_"]["items"])


def _edit(key, change):
    def edit(doc):
        array = _mixture_items(doc)[key]
        array["data"] = change(list(array["data"]))

    return edit


def _drop_mixture(doc):
    doc["attributes"]["latent_mixture_"] = None


def _no_mixture_attribute(doc):
    del doc["attributes"]["latent_mixture_"]


def _claims_prior(doc):
    doc["params"]["latent_density"] = "prior"


def _not_a_dict(doc):
    doc["attributes"]["latent_mixture_"] = [1.0, 2.0]


def _extra_key(doc):
    doc["attributes"]["latent_mixture_"]["items"].append(
        ["rows", {"__skvae__": "ndarray", "dtype": "<f8", "shape": [1], "data": [0.0]}]
    )


def _first_weight(value):
    def change(data):
        data[0] = value
        return data

    return change


def _upper_entry(data):  # scale_tril[0, 0, 1] of a k >= 2 mixture
    data[1] = 0.5
    return data


def _negative_diagonal(data):
    data[0] = -abs(data[0])
    return data


def _eleven_components(doc):
    items = doc["attributes"]["latent_mixture_"]["items"]
    for item in items:
        array = item[1]
        size = int(np.prod(array["shape"][1:]))
        array["shape"][0] += 1
        array["data"] = array["data"] + array["data"][:size]
    weights = dict(items)["weights"]
    weights["data"] = [1.0 / len(weights["data"])] * len(weights["data"])


@pytest.mark.parametrize(
    "change, message",
    [
        (_drop_mixture, "is None, but fit sets a latent mixture"),
        (_no_mixture_attribute, "is missing, but fit sets a latent mixture"),
        (_claims_prior, "holds a latent mixture, but fit sets none"),
        (_not_a_dict, "should be None or a dict"),
        (_extra_key, "should be None or a dict"),
        (_edit("weights", _first_weight(0.5)), "sum to 1"),
        (_edit("weights", _first_weight(-0.1)), "at least 0"),
        (_edit("means", _first_weight(None)), "means"),
        (_edit("scale_tril", _upper_entry), "lower-triangular"),
        (_edit("scale_tril", _negative_diagonal), "positive diagonal"),
        (_eleven_components, "1 to 10 weights"),
    ],
)
def test_hostile_mixtures_are_refused(table_vae, tmp_path, change, message):
    assert table_vae.latent_mixture_["means"].shape[1] >= 2  # (for _upper_entry)
    path = tmp_path / "table.skvae"
    table_vae.save(path)
    error = load_error(rewrite(path, tmp_path / "hostile.skvae", doc=change))
    assert "latent_mixture_" in error and message in error, error


def test_a_mixture_of_the_wrong_width_is_refused(table_vae, tmp_path):
    path = tmp_path / "table.skvae"
    table_vae.save(path)

    def wider(doc):
        items = _mixture_items(doc)
        m, k = items["means"]["shape"]
        items["means"]["shape"] = [m, k + 1]
        items["means"]["data"] = [0.0] * (m * (k + 1))

    error = load_error(rewrite(path, tmp_path / "wide.skvae", doc=wider))
    assert "latent_mixture_" in error and "means of shape" in error


def test_an_imputer_file_with_a_mixture_vae_is_refused(frame, tmp_path):
    gaps = frame.copy()
    gaps.iloc[::7, 0] = np.nan
    imputer = VAEImputer(max_iter=3, random_state=0, device="cpu").fit(gaps)
    path = tmp_path / "imputer.skvae"
    imputer.save(path)

    def mixture_vae(doc):
        doc["nested"]["vae_"]["params"]["latent_density"] = "mixture"

    error = load_error(rewrite(path, tmp_path / "hostile.skvae", doc=mixture_vae))
    assert "latent_density" in error or "latent_mixture_" in error, error


def test_a_pickle_from_before_latent_density_samples_from_the_prior(table_vae):
    state = table_vae.__getstate__()
    del state["latent_density"], state["latent_mixture_"]
    old = VAETransformer.__new__(VAETransformer)
    old.__setstate__(state)
    assert old.latent_density == "prior" and not hasattr(old, "latent_mixture_")
    prior = pickle.loads(pickle.dumps(table_vae))
    prior.latent_mixture_ = None
    pd.testing.assert_frame_equal(
        old.sample(5, random_state=0), prior.sample(5, random_state=0)
    )
