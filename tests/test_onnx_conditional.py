"""ONNX export of ConditionalVAE (issues #15, #16): onnxruntime agrees with skvae.

The encoder q(z | x) reads X only, so ``transform`` exports as for
VAETransformer; the decoding graphs (``inverse_transform``, ``sample``) take
the encoded targets as one more input, ``condition``, built by
``ConditionalVAE.encode_condition`` or, without Python, from the model's
metadata. Agreement as in ``tests/test_onnx.py``: the largest difference over
1,000 random rows, relative to the output's largest value, within 1e-5
(float32) or 1e-9 (float64), at the digits' width and at MNIST's.
"""

import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
pytest.importorskip("onnxscript")

from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

import skvae.onnx  # noqa: E402, F401  (registers the skl2onnx converters)
from skvae import ConditionalVAE, to_onnx  # noqa: E402
from skvae._utils import make_generator  # noqa: E402

RTOL = {np.float32: 1e-5, np.float64: 1e-9}
N_ROWS = 1000
SMALL = dict(max_iter=2, random_state=0, device="cpu")

#: name -> (keyword arguments, n_features, targets of n rows from rng)
MODELS = {
    "classes-gaussian-64": (
        dict(hidden_layer_sizes=(16,)),
        64,
        lambda rng, n: rng.randint(3, size=n),
    ),
    "strings-bernoulli-784": (
        dict(hidden_layer_sizes=(32,), likelihood="bernoulli"),
        784,
        lambda rng, n: rng.choice(["cat", "dog", "owl", "yak"], n),
    ),
    "continuous-fullcov-64": (
        dict(hidden_layer_sizes=(16,), covariance="full"),
        64,
        lambda rng, n: rng.normal(5.0, 3.0, (n, 2)),
    ),
}

_FITTED = {}


def fitted(name):
    """The model ``name``, fitted once per test session."""
    if name not in _FITTED:
        kwargs, n_features, targets = MODELS[name]
        rng = np.random.RandomState(0)
        X = rng.rand(N_ROWS, n_features)
        _FITTED[name] = ConditionalVAE(3, **kwargs, **SMALL).fit(
            X, targets(rng, N_ROWS)
        )
    return _FITTED[name]


def data(name, dtype, seed):
    """Rows of X and a target per row, not those of ``fit``."""
    _, n_features, targets = MODELS[name]
    rng = np.random.RandomState(seed)
    return rng.rand(N_ROWS, n_features).astype(dtype), targets(rng, N_ROWS)


def run(model, inputs):
    session = ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, inputs)[0]


def assert_agrees(got, want, dtype):
    """The largest difference, relative to the output's scale, within RTOL."""
    assert got.dtype == want.dtype == dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    scale = np.max(np.abs(want))
    error = np.max(np.abs(got.astype(np.float64) - want))
    assert error <= RTOL[dtype] * scale, f"{error:.3g} relative to {scale:.3g}"


def inputs_of(model):
    """{name: width} of the graph's inputs; the batch axis must be dynamic."""
    out = {}
    for i in model.graph.input:
        batch, width = i.type.tensor_type.shape.dim
        assert not batch.dim_value
        out[i.name] = width.dim_value
    return out


def normal_noise(n, d, dtype, random_state=0):
    """The standard normal draws ``sample(1, X=..., random_state=0)`` makes."""
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    noise = torch.randn((n, 1, d), generator=make_generator(seed), dtype=torch.float64)
    return noise.numpy().reshape(n, d).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_transform_agrees(name, dtype):
    est = fitted(name)
    X, _ = data(name, dtype, seed=1)
    model = to_onnx(est, X)
    onnx.checker.check_model(model, full_check=True)
    assert inputs_of(model) == {"X": X.shape[1]}  # no condition: q(z | x)
    assert_agrees(run(model, {"X": X}), est.transform(X), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_inverse_transform_agrees(name, dtype):
    est = fitted(name)
    X, y = data(name, dtype, seed=2)
    Z = est.transform(X)
    model = to_onnx(est, Z, method="inverse_transform")
    onnx.checker.check_model(model, full_check=True)
    assert inputs_of(model) == {"Z": 3, "condition": est.n_conditions_}
    condition = est.encode_condition(y).astype(dtype)
    got = run(model, {"Z": Z, "condition": condition})
    assert_agrees(got, est.inverse_transform(Z, y), dtype)
    one = run(model, {"Z": Z[:1], "condition": condition[:1]})
    assert_agrees(one, est.inverse_transform(Z[:1], y[:1]), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_sample_agrees(name, dtype):
    """``sample(1, X=X, y=y, random_state=0)``: the same style, the classes
    (or targets) y, when the graph is fed the draws sample makes."""
    est = fitted(name)
    X, y = data(name, dtype, seed=3)
    before = X.copy(), y.copy()
    model = to_onnx(est, X, method="sample")
    onnx.checker.check_model(model, full_check=True)
    assert list(inputs_of(model)) == ["X", "condition", "noise"]
    inputs = {
        "X": X,
        "condition": est.encode_condition(y).astype(dtype),
        "noise": normal_noise(len(X), 3, dtype),
    }
    got = run(model, inputs)
    assert_agrees(got, est.sample(1, X=X, y=y, random_state=0), dtype)
    np.testing.assert_array_equal(X, before[0])  # the inputs are never modified
    np.testing.assert_array_equal(y, before[1])


def test_samples_of_chosen_classes_are_inverse_transform_of_normal_draws():
    """``sample(n, y=[c1, c2])``: n rows of each class, target by target, the
    decoder at standard normal latents given the classes' rows."""
    est = fitted("strings-bernoulli-784")
    model = to_onnx(est, np.zeros((1, 3)), method="inverse_transform")
    n, classes = 500, ["owl", "cat"]
    condition = np.repeat(est.encode_condition(classes), n, axis=0)
    seed = check_random_state(0).randint(np.iinfo(np.int32).max)
    z = torch.randn((2 * n, 3), generator=make_generator(seed), dtype=torch.float64)
    got = run(model, {"Z": z.numpy(), "condition": condition})
    assert_agrees(got, est.sample(n, y=classes, random_state=0), np.float64)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_metadata_says_how_to_build_the_condition(name):
    """A service without Python builds ``condition`` from the metadata alone."""
    est = fitted(name)
    _, y = data(name, np.float32, seed=4)
    model = to_onnx(est, np.zeros((1, 3), np.float32), method="inverse_transform")
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["skvae_estimator"] == "ConditionalVAE"
    assert int(meta["skvae_n_conditions"]) == est.n_conditions_
    if "skvae_classes" in meta:
        classes = json.loads(meta["skvae_classes"])
        built = np.asarray([[float(c == label) for c in classes] for label in y])
    else:
        mean = np.asarray(json.loads(meta["skvae_y_mean"]))
        scale = np.asarray(json.loads(meta["skvae_y_scale"]))
        built = (y - mean) / scale
    np.testing.assert_allclose(built, est.encode_condition(y), rtol=1e-15, atol=0)
    transform = to_onnx(est)  # no condition input, nothing to say about it
    assert "skvae_n_conditions" not in {p.key for p in transform.metadata_props}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pipeline_with_a_conditional_vae_converts(dtype):
    """skl2onnx looks converters up by exact class: ConditionalVAE has its
    own, and the pipeline's graph reads X only, as ``transform`` does."""
    rng = np.random.RandomState(0)
    X = (rng.rand(N_ROWS, 64) * 16).astype(dtype)
    y = rng.randint(3, size=N_ROWS)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("cvae", ConditionalVAE(4, hidden_layer_sizes=(16,), **SMALL)),
            ("classify", LogisticRegression()),
        ]
    ).fit(X, y)
    model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["X"]
    session = ort.InferenceSession(model.SerializeToString())
    labels, proba = session.run(None, {"X": X})
    np.testing.assert_array_equal(labels, pipe.predict(X))
    assert_agrees(proba.astype(dtype), pipe.predict_proba(X).astype(dtype), dtype)
    latent = skl2onnx.to_onnx(pipe[:2], X[:1])
    assert_agrees(run(latent, {"X": X}), pipe[:2].transform(X), dtype)


@pytest.mark.parametrize("method", ["transform", "inverse_transform", "sample"])
def test_unfitted_is_refused(method):
    with pytest.raises(NotFittedError):
        to_onnx(ConditionalVAE(2), method=method)


def test_bad_inputs_are_refused_by_name():
    est = fitted("classes-gaussian-64")
    with pytest.raises(ValueError, match="X has 5 features.*takes 64 features"):
        to_onnx(est, np.zeros((1, 5)), method="sample")
    with pytest.raises(ValueError, match="takes 3 latent rows"):
        to_onnx(est, np.zeros((1, 64)), method="inverse_transform")
    with pytest.raises(ValueError, match="labels not seen in fit"):
        est.encode_condition([0, 7])


def test_table_fitted_conditional_model_is_refused_with_the_pipeline_to_use():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"x": rng.rand(50), "colour": rng.choice(["red", "blue"], 50)})
    est = ConditionalVAE(2, hidden_layer_sizes=(4,), **SMALL)
    est.fit(frame, rng.randint(2, size=50))
    for method in ("transform", "inverse_transform", "sample"):
        with pytest.raises(ValueError, match="ConditionalVAE was fitted on a table"):
            to_onnx(est, method=method)
