"""Refused refits change nothing; set_params after fit never breaks the model."""

import numpy as np
import pytest
import scipy.sparse as sp
from _snapshots import _equal, _snap

from skvae import AutoencoderTransformer, VAEImputer, VAETransformer

pd = pytest.importorskip("pandas")

RNG = np.random.RandomState(0)
X = RNG.normal(size=(40, 4))
FAST = dict(hidden_layer_sizes=(8,), max_iter=2, device="cpu", random_state=0)


def assert_unchanged(estimator, call, *args, error=Exception):
    """``call(*args)`` raises ``error`` and leaves ``estimator`` as it was."""
    before = _snap(dict(vars(estimator)))
    with pytest.raises(error):
        call(*args)
    after = _snap(dict(vars(estimator)))
    assert before[1].keys() == after[1].keys()
    for key in before[1]:
        assert _equal(before[1][key], after[1][key]), key


def test_snapshot_helper_sees_changes():
    v = VAETransformer(**FAST).fit(X)
    before = _snap(dict(vars(v)))
    v.partial_fit(X)
    assert not _equal(before, _snap(dict(vars(v))))


# ----------------------------------------------------- refused refits


def _wide_huge():
    bad = np.hstack([X, X[:, :2]])
    bad[0, 0] = 1e39
    return bad


def _nan():
    bad = X.copy()
    bad[1, 1] = np.nan
    return bad


def _inf():
    bad = X.copy()
    bad[2, 2] = np.inf
    return bad


ARRAY_REFUSALS = {
    "beyond float32": (_wide_huge, {}),
    "nan": (_nan, {}),
    "inf": (_inf, {}),
    "sparse": (lambda: sp.csr_matrix(X), {}),
    "bernoulli outside [0, 1]": (lambda: X, {"likelihood": "bernoulli"}),
    "one row with early stopping": (lambda: X[:1], {"early_stopping": True}),
}


def _frame():
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame["kind"] = pd.Categorical(np.array(["x", "y"])[np.arange(40) % 2])
    return frame


def _estimators():
    yield "vae", lambda **kw: VAETransformer(**{**FAST, **kw}), lambda: X
    yield "ae", lambda **kw: AutoencoderTransformer(**{**FAST, **kw}), lambda: X
    yield "frame", lambda **kw: VAETransformer(**{**FAST, **kw}), _frame
    yield (
        "mask",
        lambda **kw: VAETransformer(**{**FAST, "missing": "mask", **kw}),
        lambda: pd.DataFrame(_nan(), columns=list("abcd")),
    )


CASES = [
    (name, make, data, refusal)
    for name, make, data in _estimators()
    for refusal in ARRAY_REFUSALS
]


@pytest.mark.parametrize("how", ["fit", "warm_start", "partial_fit"])
@pytest.mark.parametrize("fitted", [True, False])
@pytest.mark.parametrize(
    "name, make, data, refusal", CASES, ids=[f"{c[0]}-{c[3]}" for c in CASES]
)
def test_refused_refit_changes_nothing(name, make, data, refusal, how, fitted):
    bad, params = ARRAY_REFUSALS[refusal]
    if name == "mask" and refusal == "nan":
        pytest.skip("missing='mask' takes NaN")
    est = make(warm_start=how == "warm_start")
    if fitted:
        est.fit(data())
    est.set_params(**params)
    method = est.partial_fit if how == "partial_fit" else est.fit
    bad = bad()
    before = _snap(dict(vars(est)))
    try:
        method(bad)
    except Exception:
        after = _snap(dict(vars(est)))
        assert before[1].keys() == after[1].keys()
        for key in before[1]:
            assert _equal(before[1][key], after[1][key]), key
        if fitted:  # the old model still works
            est.transform(data())
    # else accepted (partial_fit ignores early_stopping; tables rescale huge
    # values): not a refusal, nothing to check


@pytest.mark.parametrize("fitted", [True, False])
def test_known_failures(fitted):
    v = VAETransformer(**FAST)
    if fitted:
        v.fit(X)
        Z = v.transform(X)
    assert_unchanged(v, v.fit, _wide_huge(), error=ValueError)
    v.set_params(early_stopping=True)
    assert_unchanged(v, v.fit, X[:1], error=ValueError)
    v.set_params(early_stopping=False)
    if fitted:
        np.testing.assert_array_equal(v.transform(X), Z)
    frame = pd.DataFrame(X, columns=list("abcd"))
    table = VAETransformer(**FAST).fit(_frame())
    assert_unchanged(table, table.fit, _nan(), error=ValueError)
    assert hasattr(table, "tabular_")
    masked = VAETransformer(**FAST, missing="mask").fit(frame)
    assert_unchanged(masked, masked.fit, _inf(), error=ValueError)
    bernoulli = VAETransformer(**FAST, likelihood="bernoulli").fit(X > 0)
    assert_unchanged(bernoulli, bernoulli.fit, X, error=ValueError)
    named = VAETransformer(**FAST).fit(frame)
    for bad in (_nan(), sp.csr_matrix(X), _inf()):
        assert_unchanged(named, named.fit, bad, error=Exception)
    assert list(named.feature_names_in_) == list("abcd")


def test_failure_inside_training_restores_weights(monkeypatch):
    """An error raised mid-training (after epochs ran) restores everything."""
    import skvae._base as base

    v = VAETransformer(**FAST, warm_start=True).fit(X)
    real = base.train

    def failing(*args, **kwargs):
        real(*args, **kwargs)  # trains the module in place, then fails
        raise RuntimeError("boom")

    monkeypatch.setattr(base, "train", failing)
    assert_unchanged(v, v.fit, X, error=RuntimeError)
    assert_unchanged(v, v.partial_fit, X, error=RuntimeError)
    fresh = VAETransformer(**FAST)
    assert_unchanged(fresh, fresh.fit, X, error=RuntimeError)
    assert not hasattr(fresh, "module_")


@pytest.mark.parametrize("fitted", [True, False])
def test_imputer_refused_refit(fitted):
    frame = pd.DataFrame(_nan(), columns=list("abcd"))
    imp = VAEImputer(hidden_layer_sizes=(8,), max_iter=2, device="cpu", random_state=0)
    if fitted:
        imp.fit(frame)
        filled = imp.transform(frame)
    for bad in (sp.csr_matrix(X), _inf(), np.full((40, 4), np.inf)):
        assert_unchanged(imp, imp.fit, bad, error=Exception)
    if fitted:
        assert list(imp.feature_names_in_) == list("abcd")
        pd.testing.assert_frame_equal(imp.transform(frame), filled)


# ------------------------------------------------ set_params after fit

PARAMS = {
    "n_components": [1, 5],
    "likelihood": ["bernoulli"],
    "hidden_layer_sizes": [(3,)],
    "activation": ["tanh"],
    "covariance": ["full"],
    "missing": ["mask"],
    "numeric_scaling": ["quantile"],
    "device": ["cpu"],
    "beta": [0.5],
    "n_importance": [1, 7, 0],
    "n_importance_train": [1],
    "early_stopping": [True],
}


def _calls(est, data):
    if isinstance(est, VAEImputer):
        yield "transform", lambda: est.transform(data)
        yield (
            "sample_imputations",
            lambda: est.sample_imputations(data, 2, random_state=0),
        )
        yield "get_feature_names_out", lambda: est.get_feature_names_out()
        return
    yield "transform", lambda: est.transform(data)
    yield "inverse_transform", lambda: est.inverse_transform(est.transform(data))
    yield "get_feature_names_out", lambda: est.get_feature_names_out()
    if isinstance(est, VAETransformer):
        yield "sample", lambda: est.sample(3, random_state=0)
        yield "sample_X", lambda: est.sample(2, X=data, random_state=0)
        yield "score_samples", lambda: est.score_samples(data)
        yield "score", lambda: est.score(data, n_importance=3)
        yield "encode", lambda: est.encode(data)
        yield "interpolate", lambda: est.interpolate(data[:2], data[2:4], 3)


def _same(a, b):
    if isinstance(a, tuple):
        return all(map(_same, a, b))
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    if isinstance(a, list):
        return all(map(_same, a, b))
    a, b = np.asarray(a), np.asarray(b)
    return np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")


SET_PARAMS_CASES = [
    ("vae", lambda: VAETransformer(**FAST), lambda: X),
    ("ae", lambda: AutoencoderTransformer(**FAST), lambda: X),
    ("frame", lambda: VAETransformer(**FAST), _frame),
    (
        "imputer",
        lambda: VAEImputer(
            hidden_layer_sizes=(8,),
            max_iter=2,
            device="cpu",
            random_state=0,
            n_importance=5,
        ),
        lambda: _nan(),
    ),
]


@pytest.mark.parametrize(
    "name, make, data", SET_PARAMS_CASES, ids=[c[0] for c in SET_PARAMS_CASES]
)
def test_set_params_after_fit_keeps_the_fitted_model(name, make, data):
    est = make().fit(data())
    data = data()
    if isinstance(data, pd.DataFrame):
        data = data.iloc[:6]
    else:
        data = data[:6]
    reference = {}
    for method, call in _calls(est, data):
        reference[method] = call()
    original = est.get_params()
    for param, values in PARAMS.items():
        if param not in original:
            continue
        for value in values:
            est.set_params(**{param: value})
            for method, call in _calls(est, data):
                try:
                    out = call()
                except (ValueError, TypeError):
                    continue
                reads = param == "n_importance" and name == "imputer"
                if not reads:
                    assert _same(out, reference[method]), (param, value, method)
            est.set_params(**{param: original[param]})
