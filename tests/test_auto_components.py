"""n_components="auto": fit a wide latent space, keep its active dimensions.

On rows with two underlying dimensions in six features, ``"auto"`` fits
min(6, 16) = 6 latent dimensions and keeps the 2 active ones; the same
parameters with ``n_components=6`` train the very same network, which shows
that sample and score use the whole fitted model.
"""

import json
import pickle
import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from _snapshots import _snap, assert_same_state
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.utils.estimator_checks import parametrize_with_checks
from test_hostile_files import load_error, rewrite

import skvae
from skvae import AutoencoderTransformer, ConditionalVAE, VAEImputer, VAETransformer
from skvae._components import (
    AUTO_MAX_COMPONENTS,
    kept_components,
    latent_width,
    pad_latents,
)

TINY = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu")
# what drops dimensions: a linear model trained long enough on rank-2 data
LOW_RANK = dict(
    hidden_layer_sizes=(16,),
    activation="identity",
    learning_rate_init=1e-2,
    batch_size=100,
    max_iter=60,
    tol=0,
    random_state=0,
    device="cpu",
)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        yield


@pytest.fixture(scope="module")
def X():
    rng = np.random.RandomState(0)
    return rng.randn(300, 2) @ rng.randn(2, 6) + 0.1 * rng.randn(300, 6)


def _fit(estimator, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return estimator.fit(*args)


@pytest.fixture(scope="module")
def auto(X):
    return _fit(VAETransformer("auto", **LOW_RANK), X)


@pytest.fixture(scope="module")
def full(X):
    """The same network with the integer width "auto" chose."""
    return _fit(VAETransformer(6, **LOW_RANK), X)


# ------------------------------------------------------------------ the rule


def test_width_and_kept_count_rules():
    assert latent_width("auto", 3) == 3
    assert latent_width("auto", 1000) == AUTO_MAX_COMPONENTS == 16
    assert latent_width(5, 1000) == latent_width(np.int64(5), 2) == 5
    assert kept_components([2.0, 0.5, 0.0, 0.0]) == 2
    assert kept_components([0.0, 0.0]) == 1  # at least one column
    # a module that cannot be permuted: up to its last active dimension
    assert kept_components([0.5, 0.0, 0.3, 0.0]) == 3
    Z = np.ones((2, 3), np.float32)
    wide = pad_latents(Z, 5)
    assert wide.dtype == np.float32 and wide.shape == (2, 5)
    assert np.array_equal(wide[:, :3], Z) and not wide[:, 3:].any()


def test_auto_keeps_the_active_dimensions(auto):
    assert auto.n_latent_ == 6
    assert auto.n_components_ == auto.n_active_components_ == 2
    assert auto.kl_per_component_.shape == (6,)
    assert np.all(auto.kl_per_component_[:2] > 1)
    assert np.all(auto.kl_per_component_[2:] <= 0.01)
    assert auto.module_.n_components == 6  # the network keeps its width
    assert auto.get_params()["n_components"] == "auto"


def test_transform_returns_the_kept_columns(auto, full, X):
    Z = auto.transform(X)
    assert Z.shape == (300, 2) and Z.dtype == np.float64
    assert auto.transform(X.astype(np.float32)).dtype == np.float32
    np.testing.assert_array_equal(Z, full.transform(X)[:, :2])
    mean, std = auto.encode(X[:5])
    assert mean.shape == std.shape == (5, 2)
    # the same rows in the same batch give the same bits; a batch of 5 against
    # one of 300 may round differently in the BLAS (seen on CI: 1 ulp)
    np.testing.assert_array_equal(auto.encode(X)[0], Z)
    np.testing.assert_allclose(mean, Z[:5], rtol=1e-12, atol=1e-14)


def test_fit_transform_has_the_kept_width(X):
    Z = VAETransformer("auto", **LOW_RANK).fit_transform(X)
    assert Z.shape == (300, 2)


def test_feature_names_and_set_output(auto, X):
    names = auto.get_feature_names_out()
    assert names.tolist() == ["vaetransformer0", "vaetransformer1"]
    frame = clone(auto).set_output(transform="pandas").fit(X).transform(X[:3])
    assert isinstance(frame, pd.DataFrame)
    assert frame.columns.tolist() == names.tolist()


def test_unfitted_auto_has_no_feature_names():
    with pytest.raises(NotFittedError):
        VAETransformer("auto").get_feature_names_out()
    assert VAETransformer(3).get_feature_names_out().shape == (3,)


def test_inverse_transform_takes_the_kept_width(auto, full, X):
    Z = auto.transform(X[:4])
    out = auto.inverse_transform(Z)
    assert out.shape == (4, 6)
    # the dropped dimensions are decoded at the prior mean, 0
    padded = np.hstack([Z, np.zeros((4, 4))])
    np.testing.assert_array_equal(out, full.inverse_transform(padded))
    for width in (1, 3, 6):
        with pytest.raises(ValueError, match="expects n_components=2 latent"):
            auto.inverse_transform(np.zeros((2, width)))


def test_sample_and_score_use_the_whole_model(auto, full, X):
    for a, b in zip(auto.module_.parameters(), full.module_.parameters(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(auto.score_samples(X), full.score_samples(X))
    assert auto.score(X, n_importance=4) == full.score(X, n_importance=4)
    np.testing.assert_array_equal(
        auto.sample(5, random_state=0), full.sample(5, random_state=0)
    )
    np.testing.assert_array_equal(
        auto.sample(3, X=X[:2], random_state=1),
        full.sample(3, X=X[:2], random_state=1),
    )
    np.testing.assert_array_equal(
        auto.interpolate(X[:2], X[2:4], 4), full.interpolate(X[:2], X[2:4], 4)
    )


def test_reproducible_from_random_state(auto, X):
    again = _fit(VAETransformer("auto", **LOW_RANK), X)
    assert again.n_components_ == auto.n_components_
    np.testing.assert_array_equal(again.transform(X), auto.transform(X))


def test_integer_n_components_is_what_the_user_asked_for(X):
    y = np.arange(len(X)) % 2
    for est in (
        VAETransformer(3, **TINY).fit(X),
        AutoencoderTransformer(3, **TINY).fit(X),
        ConditionalVAE(3, **TINY).fit(X, y),
    ):
        assert est.n_components_ == est.n_latent_ == 3
        assert est.transform(X).shape == (300, 3)
        assert est.get_feature_names_out().shape == (3,)
    # more latent dimensions than features, as before
    assert VAETransformer(20, **TINY).fit(X).transform(X).shape == (300, 20)


def test_width_counts_columns_of_a_table():
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "y": rng.normal(size=60),
            "c": pd.Categorical(rng.choice(list("abcde"), 60)),
        }
    )
    est = VAETransformer("auto", **TINY).fit(frame)
    assert est.n_latent_ == 3  # columns, not the 7 encoded ones
    assert est.transform(frame).shape == (60, est.n_components_)
    assert est.inverse_transform(est.transform(frame[:2])).shape == (2, 3)


# -------------------------------------------------- scikit-learn's machinery


def test_clone_and_params(auto):
    copy = clone(auto)
    assert copy.get_params() == auto.get_params()
    assert not hasattr(copy, "n_components_")
    assert VAETransformer("auto").get_params()["n_components"] == "auto"


def test_set_params_after_fit_changes_nothing_fitted(auto, X, tmp_path):
    est = pickle.loads(pickle.dumps(auto))
    est.set_params(n_components=5)
    assert est.transform(X).shape == (300, 2)
    assert est.get_feature_names_out().shape == (2,)
    assert est.inverse_transform(np.zeros((1, 2))).shape == (1, 6)
    assert est.sample(2, random_state=0).shape == (2, 6)
    with pytest.raises(ValueError, match="changed after fit"):
        est.save(tmp_path / "changed.safetensors")
    est.set_params(n_components="auto")
    est.save(tmp_path / "back.safetensors")


def test_set_params_on_an_integer_model(X):
    est = VAETransformer(3, **TINY).fit(X).set_params(n_components="auto")
    assert est.transform(X).shape == (300, 3)
    est.set_params(n_components=10**12)  # no output sized by the parameter
    assert est.sample(2, random_state=0).shape == (2, 6)


def test_partial_fit_and_warm_start_keep_what_they_refit(auto, X):
    est = VAETransformer("auto", **{**LOW_RANK, "max_iter": 3}).partial_fit(X)
    assert est.n_latent_ == 6
    assert est.transform(X).shape == (300, est.n_components_)
    warm = pickle.loads(pickle.dumps(auto)).set_params(warm_start=True, max_iter=2)
    _fit(warm, X)
    assert warm.n_latent_ == 6
    assert warm.transform(X).shape == (300, warm.n_components_)
    assert warm.n_components_ == kept_components(warm.kl_per_component_)


def test_grid_search_mixes_auto_and_integers(X):
    search = GridSearchCV(
        VAETransformer(**{**LOW_RANK, "max_iter": 20}),
        {"n_components": ["auto", 2]},
        cv=2,
    )
    _fit(search, X)
    assert list(search.cv_results_["param_n_components"]) == ["auto", 2]
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_params_["n_components"] in ("auto", 2)
    assert search.transform(X).shape[1] == search.best_estimator_.n_components_


@pytest.mark.parametrize("bad", ["mle", "AUTO", 0, -1, 2.5, None, [2]])
@pytest.mark.parametrize("Estimator", [VAETransformer, ConditionalVAE])
def test_bad_values_are_refused(Estimator, bad, X):
    with pytest.raises((ValueError, TypeError), match="n_components"):
        Estimator(bad, **TINY).fit(X, np.arange(len(X)) % 2)


def test_a_refused_fit_changes_nothing(auto, X):
    est = pickle.loads(pickle.dumps(auto)).set_params(n_components="mle")
    before = _snap(dict(vars(est)))
    with pytest.raises(ValueError, match="n_components"):
        est.fit(X)
    assert_same_state(before, est)


@pytest.mark.parametrize("Estimator", [AutoencoderTransformer, VAEImputer])
def test_estimators_without_auto_refuse_it(Estimator, X):
    with pytest.raises(ValueError, match="'n_components' parameter"):
        Estimator("auto", max_iter=1).fit(X)


@parametrize_with_checks(
    [
        VAETransformer("auto", **TINY),
        ConditionalVAE("auto", **TINY),
    ],
    expected_failed_checks=lambda est: {},
)
def test_sklearn_compatible_with_auto(estimator, check):
    check(estimator)


# ------------------------------------------------------------------- files


def test_save_and_load_round_trip(auto, X, tmp_path):
    path = tmp_path / "auto.safetensors"
    auto.save(path)
    loaded = skvae.load(path)
    assert loaded.get_params() == auto.get_params()
    assert (loaded.n_components_, loaded.n_latent_) == (2, 6)
    np.testing.assert_array_equal(loaded.kl_per_component_, auto.kl_per_component_)
    np.testing.assert_array_equal(loaded.transform(X), auto.transform(X))
    Z = auto.transform(X[:3])
    np.testing.assert_array_equal(
        loaded.inverse_transform(Z), auto.inverse_transform(Z)
    )
    np.testing.assert_array_equal(loaded.score_samples(X), auto.score_samples(X))
    names = loaded.get_feature_names_out().tolist()
    assert names == ["vaetransformer0", "vaetransformer1"]
    again = pickle.loads(pickle.dumps(auto))
    assert (again.n_components_, again.n_latent_) == (2, 6)


def test_conditional_auto(X, tmp_path):
    y = (X[:, 0] > 0).astype(int)
    est = _fit(ConditionalVAE("auto", **LOW_RANK), X, y)
    assert est.n_latent_ == 6 and 1 <= est.n_components_ <= 6
    k = est.n_components_
    Z = est.transform(X[:4])
    assert Z.shape == (4, k)
    assert est.inverse_transform(Z, y[:4]).shape == (4, 6)
    with pytest.raises(ValueError, match=f"expects n_components={k} latent"):
        est.inverse_transform(np.zeros((2, k + 1)), y[:2])
    assert est.sample(2, y=[0, 1], random_state=0).shape == (4, 6)
    assert est.sample(2, X=X[:3], y=1, random_state=0).shape == (6, 6)
    assert est.interpolate(X[:2], X[2:4], 3, y=0).shape == (2, 3, 6)
    path = tmp_path / "cvae.safetensors"
    est.save(path)
    loaded = skvae.load(path)
    assert loaded.n_components_ == k
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X, y), est.score_samples(X, y))


@pytest.fixture(scope="module")
def auto_file(auto, tmp_path_factory):
    path = tmp_path_factory.mktemp("auto") / "auto.safetensors"
    auto.save(path)
    return path


@pytest.fixture(scope="module")
def int_file(X, tmp_path_factory):
    path = tmp_path_factory.mktemp("int") / "int.safetensors"
    VAETransformer(2, **TINY).fit(X).save(path)
    return path


def _set(**values):
    def change(doc):
        doc["attributes"].update(values)

    return change


def _drop(*names):
    def change(doc):
        for name in names:
            doc["attributes"].pop(name)

    return change


HOSTILE = {
    "huge n_latent_": (_set(n_latent_=10**9), "'kl_per_component_' has shape"),
    "n_latent_ of another width": (_set(n_latent_=5), "has shape"),
    "n_components_ above n_latent_": (_set(n_components_=7), "'n_components_' is 7"),
    "zero n_components_": (_set(n_components_=0), "'n_components_' is 0"),
    "n_components_ the KL does not give": (
        _set(n_components_=4),
        "'n_components_' is 4, but fit gives 2",
    ),
    "fractional n_components_": (_set(n_components_=2.5), "should be an int"),
    "no n_latent_": (_drop("n_latent_"), r"lacks the fitted attributes \['n_latent_"),
    "an integer parameter": (
        lambda doc: doc["params"].update(n_components=3),
        "'n_latent_' is 6, but fit gives 3",
    ),
    "a parameter outside the options": (
        lambda doc: doc["params"].update(n_components="mle"),
        "parameters are invalid",
    ),
}


@pytest.mark.parametrize("case", HOSTILE, ids=str)
def test_tampered_auto_files_are_refused(auto_file, tmp_path, case):
    change, expected = HOSTILE[case]
    message = load_error(rewrite(auto_file, tmp_path / "t", doc=change))
    assert re.search(expected, message), message


def test_integer_file_must_match_its_parameter(int_file, tmp_path):
    message = load_error(rewrite(int_file, tmp_path / "t", doc=_set(n_latent_=3)))
    assert "'n_latent_' is 3, but fit gives 2" in message
    message = load_error(rewrite(int_file, tmp_path / "u", doc=_set(n_components_=1)))
    assert "'n_components_' is 1, but fit gives 2" in message


def test_files_written_before_the_attributes_load(int_file, auto_file, X, tmp_path):
    old = skvae.load(
        rewrite(int_file, tmp_path / "t", doc=_drop("n_latent_", "n_components_"))
    )
    assert (old.n_latent_, old.n_components_) == (2, 2)
    assert old.transform(X).shape == (300, 2)
    # an "auto" file needs its width, but its kept count follows from the KL
    loaded = skvae.load(rewrite(auto_file, tmp_path / "u", doc=_drop("n_components_")))
    assert loaded.n_components_ == 2


def test_pickles_from_before_the_attributes_load(X):
    est = VAETransformer(2, **TINY).fit(X)
    state = est.__getstate__()
    del state["n_latent_"], state["n_components_"]
    old = VAETransformer.__new__(VAETransformer)
    old.__setstate__(state)
    assert (old.n_latent_, old.n_components_) == (2, 2)
    np.testing.assert_array_equal(old.transform(X), est.transform(X))


def test_file_document_holds_the_fitted_counts(auto_file):
    data = auto_file.read_bytes()
    size = int.from_bytes(data[:8], "little")
    doc = json.loads(json.loads(data[8 : 8 + size])["__metadata__"]["skvae"])
    assert doc["params"]["n_components"] == "auto"
    attributes = doc["attributes"]
    assert (attributes["n_latent_"], attributes["n_components_"]) == (6, 2)


# -------------------------------------------------------------------- ONNX


def test_onnx_export_has_the_kept_width(auto, X):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    rows = X[:5].astype(np.float32)
    session = ort.InferenceSession(skvae.to_onnx(auto, rows).SerializeToString())
    Z = session.run(None, {"X": rows})[0]
    assert Z.shape == (5, 2)
    np.testing.assert_allclose(Z, auto.transform(rows), rtol=1e-5, atol=1e-6)
    model = skvae.to_onnx(auto, Z, method="inverse_transform")
    session = ort.InferenceSession(model.SerializeToString())
    np.testing.assert_allclose(
        session.run(None, {"Z": Z})[0], auto.inverse_transform(Z), rtol=1e-5, atol=1e-6
    )
    with pytest.raises(ValueError, match="takes 2 latent rows"):
        skvae.to_onnx(auto, np.zeros((1, 6), np.float32), method="inverse_transform")
