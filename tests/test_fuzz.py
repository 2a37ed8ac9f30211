"""Fuzzing every public method: a correct result or a clear ValueError/TypeError.

Each call gets arrays of any dtype (NaN, inf, strings, complex, bool...), any
number of dimensions and sizes (empty, 1-D, 3-D, the wrong number of
features), as NumPy arrays, lists, DataFrames, sparse matrices, reversed or
Fortran-ordered views. It must either return a result of the right shape and
dtype, or raise ValueError/TypeError that does not come from inside torch;
and it must never modify its input.
"""

import copy
import os
import traceback

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import skvae
from skvae import VAETransformer

N_FEATURES, N_COMPONENTS = 3, 2
TINY = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu")
FUZZ = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
FUZZ_FIT = settings(FUZZ, max_examples=20)


@pytest.fixture(scope="module")
def fitted():
    X = np.random.RandomState(0).normal(size=(30, N_FEATURES))
    return VAETransformer(N_COMPONENTS, **TINY).fit(X)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "vae.safetensors"
    fitted.save(path)
    return path.read_bytes()


# ---------------------------------------------------------------- strategies

_DTYPES = [
    np.float64,
    np.float32,
    np.float16,
    np.int64,
    np.uint8,
    np.bool_,
    np.complex128,
    np.dtype("<U3"),
    np.dtype(">f8"),
]


def _arrays(last_side=None):
    def shape(n_dims):
        sides = [st.integers(0, 4)] * n_dims
        if last_side is not None and n_dims:
            sides[-1] = st.sampled_from([last_side, last_side, 0, 1, 4])
        return st.tuples(*sides)

    return st.sampled_from(_DTYPES).flatmap(
        lambda dtype: st.integers(0, 3).flatmap(
            lambda n_dims: hnp.arrays(dtype, shape(n_dims))
        )
    )


def _finite_arrays(n_columns):
    return hnp.arrays(
        st.sampled_from([np.float64, np.float32]),
        st.tuples(st.integers(1, 5), st.just(n_columns)),
        elements=st.floats(-1e3, 1e3, width=32),
    )


def _forms(X):
    """The same data as an array, a list and, for 2-D, other containers."""
    forms = [X, X.tolist()]
    if X.ndim == 2:
        forms += [pd.DataFrame(X), X[::-1], np.asfortranarray(X)]
        if X.dtype in (np.float64, np.float32, np.int64, np.bool_, np.uint8):
            forms.append(sp.csr_matrix(X))
    return st.sampled_from(forms)


def inputs(n_columns):
    return st.one_of(
        _arrays(n_columns), _finite_arrays(n_columns), st.none(), st.text(max_size=3)
    ).flatmap(lambda X: _forms(X) if isinstance(X, np.ndarray) else st.just(X))


# ------------------------------------------------------------------- checks


def _copy(X):
    if isinstance(X, pd.DataFrame):
        return X.copy(deep=True)
    if sp.issparse(X) or isinstance(X, np.ndarray):
        return X.copy()
    return copy.deepcopy(X)


def _assert_unchanged(X, before):
    if isinstance(X, pd.DataFrame):
        pd.testing.assert_frame_equal(X, before)
    elif sp.issparse(X):
        assert (X != before).nnz == 0
    elif isinstance(X, np.ndarray):
        assert X.dtype == before.dtype and X.shape == before.shape
        assert X.tobytes() == before.tobytes()
    else:
        assert repr(X) == repr(before)


def _assert_clean_error(exc):
    assert str(exc), "an error without a message"
    frames = traceback.extract_tb(exc.__traceback__)
    inside_torch = [f for f in frames if f"{os.sep}torch{os.sep}" in f.filename]
    assert not inside_torch, "".join(traceback.format_exception(exc))


def call(fn, *args, **kwargs):
    """Run ``fn``; None for a clean error, else its result. Inputs must not change."""
    before = [_copy(a) for a in args]
    try:
        result = fn(*args, **kwargs)
    except (ValueError, TypeError) as exc:
        _assert_clean_error(exc)
        result = None
    for a, b in zip(args, before, strict=True):
        _assert_unchanged(a, b)
    return result


def _dense(X):
    """The array a valid X stands for, or None when X is not a finite 2-D table."""
    try:
        A = X.toarray() if sp.issparse(X) else np.asarray(X)
        if A.dtype.kind == "c":  # refused even when the imaginary part is 0
            return None
        A = A.astype(np.float64)
    except (TypeError, ValueError):
        return None
    if A.ndim != 2 or not A.size or not np.isfinite(A).all():
        return None
    return A


def _check_output(result, X, shape, *, finite_below=1e3):
    A = _dense(X)
    if result is None:
        return
    assert A is not None, f"accepted an invalid input {X!r}"
    assert result.shape == shape(A)
    assert result.dtype in (np.float32, np.float64)
    if isinstance(X, np.ndarray) and X.dtype == np.float32:
        assert result.dtype == np.float32
    if np.abs(A).max() <= finite_below:
        assert np.isfinite(result).all()


# -------------------------------------------------------------------- tests


@FUZZ
@given(inputs(N_FEATURES))
def test_transform(fitted, X):
    result = call(fitted.transform, X)
    _check_output(result, X, lambda A: (A.shape[0], N_COMPONENTS))
    A = _dense(X)
    if result is None and A is not None and A.shape[1] == N_FEATURES:
        assert sp.issparse(X), f"refused a valid input {X!r}"


@FUZZ
@given(inputs(N_FEATURES))
def test_score_samples_and_score(fitted, X):
    result = call(fitted.score_samples, X)
    # Far from the data (|x| ~ 400 for this model) the KL term truly exceeds the
    # float32 range, so -inf is the right float32 answer there.
    _check_output(result, X, lambda A: (A.shape[0],), finite_below=10)
    score = call(fitted.score, X)
    assert (score is None) == (result is None)
    if score is not None:
        assert score == pytest.approx(float(np.mean(result)), nan_ok=True)


@FUZZ
@given(inputs(N_COMPONENTS))
def test_inverse_transform(fitted, Z):
    result = call(fitted.inverse_transform, Z)
    _check_output(result, Z, lambda A: (A.shape[0], N_FEATURES))


@FUZZ
@given(inputs(N_FEATURES), st.integers(1, 3))
def test_sample_around_rows(fitted, X, n):
    if X is None:
        return  # X=None means sampling from the prior, tested below
    result = call(fitted.sample, n, X=X, random_state=0)
    _check_output(result, X, lambda A: (A.shape[0] * n, N_FEATURES))


@FUZZ
@given(
    st.one_of(
        st.integers(-2, 5),
        st.integers(1, 4).map(np.int64),
        st.floats(),
        st.text(max_size=2),
        st.none(),
        st.booleans(),
    ),
    st.one_of(st.none(), st.integers(-3, 2**33), st.text(max_size=2), st.floats(0, 10)),
)
def test_sample(fitted, n_samples, random_state):
    result = call(fitted.sample, n_samples, random_state=random_state)
    if result is not None:
        assert result.shape == (int(n_samples), N_FEATURES)
        assert np.isfinite(result).all()


@FUZZ_FIT
@given(inputs(N_FEATURES), st.sampled_from(["fit", "partial_fit", "fit_transform"]))
def test_fit(X, method):
    est = VAETransformer(N_COMPONENTS, **TINY)
    result = call(getattr(est, method), X)
    if method == "fit_transform":
        _check_output(result, X, lambda A: (A.shape[0], N_COMPONENTS))
    elif result is not None:
        assert result is est
        assert _dense(X) is not None, f"fitted on an invalid input {X!r}"
        assert np.isfinite(est.loss_curve_).all()


@FUZZ
@given(st.binary(max_size=300))
def test_load_random_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("bytes") / "f"
    path.write_bytes(data)
    with pytest.raises(ValueError, match="Cannot load"):
        skvae.load(path)


@FUZZ
@given(st.data())
def test_load_damaged_file(tmp_path_factory, saved, data):
    damaged = bytearray(saved)
    how = data.draw(st.sampled_from(["flip", "truncate", "insert", "delete"]))
    index = data.draw(st.integers(0, len(saved) - 1))
    if how == "flip":
        damaged[index] ^= data.draw(st.integers(1, 255))
    elif how == "truncate":
        del damaged[index:]
    elif how == "insert":
        damaged[index:index] = data.draw(st.binary(min_size=1, max_size=8))
    else:
        del damaged[index : index + data.draw(st.integers(1, 8))]
    path = tmp_path_factory.mktemp("damaged") / "f"
    path.write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="Cannot load"):
        skvae.load(path)


@pytest.mark.parametrize("path", [None, 3, 1.5, ["a"], object()], ids=repr)
def test_save_and_load_bad_paths(fitted, path):
    with pytest.raises(TypeError):
        fitted.save(path)
    with pytest.raises(TypeError):
        skvae.load(path)


# --------------------------------------------------------- explicit inputs


BAD_FRAMES = {
    "strings": pd.DataFrame({"a": ["x", "y"], "b": 1.0, "c": 2.0}),
    "categorical": pd.DataFrame({"a": pd.Categorical(["x", "y"]), "b": 1.0, "c": 2.0}),
    "datetime": pd.DataFrame(
        {"a": pd.date_range("2020", periods=2), "b": 1.0, "c": 2.0}
    ),
    "timedelta": pd.DataFrame(
        {"a": pd.to_timedelta([1, 2], unit="s"), "b": 1.0, "c": 2.0}
    ),
    "mixed objects": pd.DataFrame({"a": [1.0, "x"], "b": 1.0, "c": 2.0}),
    "nullable with NA": pd.DataFrame(
        {"a": pd.array([1, None], dtype="Int64"), "b": 1.0, "c": 2.0}
    ),
    "complex": pd.DataFrame({"a": [1j, 2j], "b": 1.0, "c": 2.0}),
    "nested lists": pd.DataFrame({"a": [[1], [2]], "b": 1.0, "c": 2.0}),
    "too few columns": pd.DataFrame({"a": [1.0, 2.0]}),
}


@pytest.mark.parametrize("frame", BAD_FRAMES, ids=str)
@pytest.mark.parametrize(
    "method", ["transform", "score_samples", "score", "fit", "partial_fit"]
)
def test_unsupported_dataframes_are_clear_errors(fitted, frame, method):
    est = fitted if method in ("transform", "score_samples", "score") else None
    est = est or VAETransformer(N_COMPONENTS, **TINY)
    X = BAD_FRAMES[frame]
    if frame in ("too few columns", "strings", "categorical") and est is not fitted:
        return  # valid training sets (string columns are modelled as categories)
    with pytest.raises((ValueError, TypeError)) as info:
        call_raising(getattr(est, method), X)
    _assert_clean_error(info.value)


def call_raising(fn, X):
    before = _copy(X)
    try:
        fn(X)
    finally:
        _assert_unchanged(X, before)


def test_supported_dataframes_work(fitted):
    X = pd.DataFrame(
        {
            "a": pd.array([1, 2], dtype="Int64"),
            "b": [True, False],
            "c": np.float32([0.5, 1.5]),
        }
    )
    assert fitted.transform(X).shape == (2, N_COMPONENTS)
    est = VAETransformer(N_COMPONENTS, **TINY).fit(X)
    assert list(est.feature_names_in_) == ["a", "b", "c"]


def test_float32_input_used_in_place_is_not_modified():
    # fit trains straight from a float32 C-contiguous X without copying it.
    X = np.random.RandomState(0).normal(size=(20, 3)).astype(np.float32)
    before = X.copy()
    est = VAETransformer(N_COMPONENTS, **TINY, warm_start=True)
    est.fit(X)
    est.partial_fit(X)
    est.fit(X)
    est.score_samples(X)
    est.sample(2, X=X)
    np.testing.assert_array_equal(X, before)
    assert X.flags.writeable


@pytest.mark.parametrize(
    "make",
    [
        lambda X: X[:1][::-1],  # one row: still a negative stride after ascontiguous
        lambda X: X[::-2],
        lambda X: pd.DataFrame(X.astype(">f8")),  # pandas keeps big-endian columns
        lambda X: pd.DataFrame(X.astype(">f4")),
        lambda X: X.astype(">f8"),
    ],
    ids=[
        "one reversed row",
        "reversed",
        "big-endian f8 frame",
        "big-endian f4 frame",
        "big-endian array",
    ],
)
def test_unusual_memory_layouts(fitted, make):
    X = np.random.RandomState(1).normal(size=(4, N_FEATURES))
    Xu = make(X)
    A = np.asarray(Xu, dtype=np.float64)
    expected = fitted.transform(A)
    np.testing.assert_allclose(fitted.transform(Xu), expected, rtol=1e-6, atol=1e-6)
    assert fitted.transform(Xu).dtype == np.asarray(Xu).dtype.newbyteorder("=")
    np.testing.assert_allclose(
        fitted.score_samples(Xu), fitted.score_samples(A), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        fitted.inverse_transform(np.asarray(Xu)[:, :N_COMPONENTS]),
        fitted.inverse_transform(A[:, :N_COMPONENTS]),
        rtol=1e-5,
        atol=1e-6,
    )
    est = VAETransformer(N_COMPONENTS, **TINY).fit(Xu)
    assert np.isfinite(est.loss_curve_).all()
