"""VAEOversampler: imbalanced-learn's sampler API over a conditional VAE."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from skvae import ConditionalVAE, VAEOversampler

imblearn = pytest.importorskip("imblearn")
from imblearn.over_sampling import RandomOverSampler  # noqa: E402
from imblearn.pipeline import Pipeline  # noqa: E402

TINY = ConditionalVAE(hidden_layer_sizes=(16,), max_iter=3, device="cpu")


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=Warning)
        yield


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        300,
        n_features=6,
        n_informative=4,
        n_classes=3,
        n_clusters_per_class=1,
        weights=[0.7, 0.2, 0.1],
        random_state=0,
    )
    return X, y


@pytest.mark.parametrize(
    "strategy",
    [
        "auto",
        "minority",
        "not minority",
        "not majority",
        "all",
        {1: 100, 2: 80},
        lambda y: {2: 50},
    ],
)
def test_sampling_strategy_means_what_imblearn_means(data, strategy):
    X, y = data
    X_res, y_res = VAEOversampler(
        TINY, sampling_strategy=strategy, random_state=0
    ).fit_resample(X, y)
    _, y_ref = RandomOverSampler(sampling_strategy=strategy).fit_resample(X, y)
    assert np.array_equal(np.bincount(y_res), np.bincount(y_ref))
    # the real rows come first, unchanged
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res[: len(y)], y)


def test_float_strategy_for_binary_y():
    X, y = make_classification(200, weights=[0.9], random_state=0)
    sampler = VAEOversampler(TINY, sampling_strategy=0.5, random_state=0)
    _, y_res = sampler.fit_resample(X, y)
    assert np.bincount(y_res)[1] == np.bincount(y)[0] // 2
    assert sampler.sampling_strategy_ == {1: np.bincount(y)[0] // 2 - np.bincount(y)[1]}
    assert sampler.estimator_.classes_.tolist() == [0, 1]


def test_reproducible_inputs_unchanged_and_both_sources(data):
    X, y = data
    X_copy, y_copy = X.copy(), y.copy()
    a = VAEOversampler(TINY, random_state=1).fit_resample(X, y)
    b = VAEOversampler(TINY, random_state=1).fit_resample(X, y)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    c = VAEOversampler(TINY, source="prior", decoder_noise=True, random_state=1)
    X_c, y_c = c.fit_resample(X, y)
    assert X_c.shape == a[0].shape and np.isfinite(X_c).all()


def test_default_model_makes_useful_rows(data):
    X, y = data
    sampler = VAEOversampler(random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert isinstance(sampler.estimator_, ConditionalVAE)
    # a classifier trained on the real rows mostly recognises the new ones
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    new = slice(len(X), None)
    assert np.mean(clf.predict(X_res[new]) == y_res[new]) > 0.7


def test_imblearn_pipeline_and_grid_search(data):
    X, y = data
    pipe = Pipeline(
        [
            ("over", VAEOversampler(TINY, random_state=0)),
            ("clf", LogisticRegression(max_iter=500)),
        ]
    )
    pipe.fit(X, y)
    assert pipe.predict(X).shape == (len(X),)  # no resampling at predict
    search = GridSearchCV(
        pipe, {"over__estimator__n_components": [2, 3]}, cv=2, scoring="f1_macro"
    ).fit(X, y)
    assert search.best_params_["over__estimator__n_components"] in (2, 3)
    params = VAEOversampler(TINY).get_params()
    assert "estimator__max_iter" in params


def test_mixed_type_dataframes():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    n = 120
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "kind": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "flag": rng.rand(n) > 0.5,
            "count": rng.randint(0, 9, n),
        }
    )
    y = pd.Series(np.where(rng.rand(n) < 0.15, "rare", "common"), name="label")
    sampler = VAEOversampler(TINY, random_state=0)
    X_res, y_res = sampler.fit_resample(frame, y)
    assert list(X_res.columns) == list(frame.columns)
    assert X_res.dtypes.to_dict() == frame.dtypes.to_dict()
    assert set(X_res["kind"].unique()) <= {"a", "b", "c"}
    assert isinstance(y_res, pd.Series) and y_res.name == "label"
    assert y_res.value_counts()["rare"] == y_res.value_counts()["common"]
    assert list(sampler.feature_names_in_) == list(frame.columns)


def test_errors(data):
    X, y = data
    sampler = VAEOversampler(TINY)
    with pytest.raises(ValueError, match="requires y"):
        sampler.fit_resample(X, None)
    with pytest.raises(ValueError, match="Unknown label type"):
        sampler.fit_resample(X, np.linspace(0, 1, len(X)))
    with pytest.raises(ValueError, match="different numbers of rows"):
        sampler.fit_resample(X, y[:-1])
    with pytest.raises(ValueError, match="sampling_strategy"):
        VAEOversampler(TINY, sampling_strategy=0.5).fit_resample(X, y)
    with pytest.raises(ValueError, match="source"):
        VAEOversampler(TINY, source="nearest").fit_resample(X, y)
    assert not hasattr(sampler, "estimator_")
    counts = np.bincount(y)
    expected = {1: counts[0] - counts[1], 2: counts[0] - counts[2]}
    assert VAEOversampler(TINY).fit(X, y).sampling_strategy_ == expected
