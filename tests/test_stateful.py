"""Random sequences of calls on a fitted estimator, as a careless or hostile user
would make them: refits with bad data, ``set_params``, every public method with
good and bad input, in any order.

After each step (Hypothesis draws the estimator and the sequence):

- a refused call (one that raised) left the model exactly as it was, weights
  bit for bit;
- every call either worked or raised ``ValueError``/``TypeError``, never an
  internal error from torch, NumPy or pandas;
- every output has the documented shape and dtype.
"""

import copy
import functools

import numpy as np
import pytest
import scipy.sparse as sp
from _snapshots import _snap, assert_same_state
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skvae import AutoencoderTransformer, VAEImputer, VAETransformer

pd = pytest.importorskip("pandas")

RNG = np.random.RandomState(0)
X = RNG.normal(size=(30, 4))
UNIT = (X - X.min()) / (X.max() - X.min())
HOLES = X.copy()
HOLES[RNG.rand(*X.shape) < 0.2] = np.nan
FRAME = pd.DataFrame(X, columns=list("abcd"))
FRAME["kind"] = pd.Categorical(np.array(["x", "y", "z"])[np.arange(30) % 3])
TINY = dict(hidden_layer_sizes=(6,), max_iter=2, device="cpu", random_state=0)

#: name -> (estimator factory, its training data)
KINDS = {
    "vae": (lambda: VAETransformer(2, **TINY), X),
    "bernoulli": (lambda: VAETransformer(2, likelihood="bernoulli", **TINY), UNIT),
    "autoencoder": (lambda: AutoencoderTransformer(2, **TINY), X),
    "frame": (lambda: VAETransformer(2, **TINY), FRAME),
    "masked": (lambda: VAETransformer(2, missing="mask", **TINY), HOLES),
    "imputer": (
        lambda: VAEImputer(n_components=2, n_importance=4, **TINY),
        HOLES,
    ),
}

#: parameters set_params may change after fit, and values to try
PARAMS = {
    "n_components": [1, 3],
    "likelihood": ["gaussian", "bernoulli"],
    "hidden_layer_sizes": [(3,), (5, 4)],
    "activation": ["tanh"],
    "covariance": ["full", "diagonal"],
    "missing": ["mask", "error"],
    "numeric_scaling": ["quantile", "standard"],
    "early_stopping": [True, False],
    "beta": [0.5],
    "batch_size": [7],
    "n_importance": [0, 1, 5],
    "random_state": [1],
}

ALLOWED = (ValueError, TypeError)
FAST = settings(
    max_examples=int(__import__("os").environ.get("SKVAE_STATEFUL_EXAMPLES", 40)),
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def _fitted(kind):
    import warnings

    make, data = KINDS[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make().fit(data)


def _rows(data, n=5):
    return data.iloc[:n] if isinstance(data, pd.DataFrame) else data[:n]


def _n_components(est):
    model = est.vae_ if isinstance(est, VAEImputer) else est
    return model.module_.n_components


def _bad_inputs(data):
    """Inputs every method must refuse (or, for some, may accept)."""
    wide = np.hstack([X, X[:, :2]])
    huge = X.copy()
    huge[0, 0] = 1e39
    return {
        "wide": wide,
        "huge": huge,
        "nan": HOLES,
        "inf": np.where(np.isnan(HOLES), np.inf, HOLES),
        "strings": np.full((3, 4), "a", dtype=object),
        "sparse": sp.csr_matrix(X),
        "1-d": X[0],
        "empty": X[:0],
        "one row": X[:1],
    }


# ---------------------------------------------------------------- the steps


def _check_output(est, method, data, out):
    """The documented shape and dtype of each method's result."""
    n = len(data) if data is not None else None
    k = _n_components(est)
    if isinstance(est, VAEImputer):
        if method == "transform":
            assert out.shape == data.shape and not np.isnan(out).any()
        elif method == "sample_imputations":
            assert out.shape == (2, *data.shape) or out.shape[-2:] == data.shape
        return
    frame = getattr(getattr(est, "tabular_", None), "frame_", False)
    if method == "transform":
        assert out.shape == (n, k)
        if not frame:
            assert out.dtype == data.dtype
    elif method == "inverse_transform":
        assert out.shape == (n, est.n_features_in_)
    elif method == "sample":
        assert len(out) == 3 and out.shape[1] == est.n_features_in_
    elif method == "score_samples":
        assert out.shape == (n,) and np.isfinite(out).all()
    elif method == "encode":
        loc, scale = out
        assert loc.shape == scale.shape == (n, k) and (scale > 0).all()
    elif method == "interpolate":  # one pair, 3 steps (a table: 3 rows)
        shape = (3, est.n_features_in_) if frame else (1, 3, est.n_features_in_)
        assert out.shape == shape


def _method_calls(est, data):
    """(name, call) of every public method on good input ``data``."""
    if isinstance(est, VAEImputer):
        return [
            ("transform", lambda: est.transform(data)),
            (
                "sample_imputations",
                lambda: est.sample_imputations(data, 2, random_state=0),
            ),
        ]
    calls = [
        ("transform", lambda: est.transform(data)),
        (
            "inverse_transform",
            lambda: est.inverse_transform(np.zeros((len(data), _n_components(est)))),
        ),
        ("get_feature_names_out", est.get_feature_names_out),
    ]
    if isinstance(est, VAETransformer):
        calls += [
            ("sample", lambda: est.sample(3, random_state=0)),
            ("score_samples", lambda: est.score_samples(data)),
            ("encode", lambda: est.encode(data)),
            ("interpolate", lambda: est.interpolate(_rows(data, 1), _rows(data, 1), 3)),
        ]
    return calls


def _bad_calls(est, data):
    """Calls with bad arguments that must be refused cleanly."""
    calls = [("transform", lambda bad: est.transform(bad))]
    if isinstance(est, VAEImputer):
        calls.append(
            ("sample_imputations", lambda bad: est.sample_imputations(data, bad))
        )
        return calls
    calls.append(("inverse_transform", lambda bad: est.inverse_transform(bad)))
    if isinstance(est, VAETransformer):
        calls += [
            ("sample", lambda bad: est.sample(bad)),
            ("score_samples", lambda bad: est.score_samples(bad)),
            ("interpolate", lambda bad: est.interpolate(data, data, bad)),
        ]
    return calls


def _steps():
    refit = st.tuples(
        st.just("refit"),
        st.sampled_from(["fit", "partial_fit"]),
        st.sampled_from(sorted(_bad_inputs(X))),
    )
    good_fit = st.tuples(st.just("partial_fit"), st.none(), st.none())
    set_param = st.sampled_from(sorted(PARAMS)).flatmap(
        lambda p: st.tuples(
            st.just("set_params"), st.just(p), st.sampled_from(PARAMS[p])
        )
    )
    call = st.tuples(st.just("call"), st.integers(0, 10), st.none())
    bad_call = st.tuples(
        st.just("bad_call"),
        st.integers(0, 10),
        st.sampled_from(
            sorted(_bad_inputs(X)) + ["zero", "negative", "too many", "float"]
        ),
    )
    return st.lists(
        st.one_of(refit, good_fit, set_param, call, bad_call), min_size=1, max_size=8
    )


_SCALARS = {"zero": 0, "negative": -3, "too many": 2**63, "float": 2.5}


def _run(est, data, step):
    """Take one step; return the data the model now serves."""
    action, a, b = step
    if action == "set_params":
        if a in est.get_params():
            est.set_params(**{a: b})
        return data
    if action == "refit":
        new = _bad_inputs(data)[b]
        getattr(est, a if hasattr(est, a) else "fit")(new)
        return new  # accepted: a new model of this data (partial_fit: more of it)
    if action == "partial_fit":
        if hasattr(est, "partial_fit"):
            est.partial_fit(data)
        return data
    if action == "call":
        calls = _method_calls(est, _rows(data))
        name, call = calls[a % len(calls)]
        _check_output(est, name, _rows(data), call())
        return data
    calls = _bad_calls(est, _rows(data))
    name, call = calls[a % len(calls)]
    bad = _SCALARS[b] if b in _SCALARS else _bad_inputs(data)[b]
    call(bad)
    return data


@FAST
@given(kind=st.sampled_from(sorted(KINDS)), steps=_steps())
def test_random_call_sequences_never_corrupt_the_model(kind, steps):
    import warnings

    est = copy.deepcopy(_fitted(kind))
    data = KINDS[kind][1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, step in enumerate(steps):
            before = _snap(dict(vars(est)))
            try:
                data = _run(est, data, step)
            except ALLOWED:
                assert_same_state(before, est, f"step {i} {step} was refused but")
            except Exception as exc:  # an internal error is a bug
                pytest.fail(f"step {i} {step} raised {type(exc).__name__}: {exc}")
            # whatever happened, the fitted model still serves good input
            for name, call in _method_calls(est, _rows(data)):
                try:
                    out = call()
                except ALLOWED:
                    # only a parameter read at call time, set invalid, may refuse
                    if not (isinstance(est, VAEImputer) and est.n_importance < 1):
                        raise
                    continue
                _check_output(est, name, _rows(data), out)
