"""ONNX export (issue #16): onnxruntime's outputs equal skvae's own.

Agreement is measured relative to the output's scale: the largest absolute
difference over all entries, divided by the largest absolute value of
skvae's output, is at most 1e-5 for float32 and 1e-9 for float64. Every model
is checked on 1,000 random rows at the digits' width (64) or MNIST's (784),
and on a single row (the batch axis is dynamic). onnxruntime's CPU provider
has no float64 convolutions, so float64 convolutional graphs are run by
onnx's reference evaluator instead, which is slow at MNIST size: there on
100 rows for the encoder and 20 for the decoder. Models are tiny and
trained for two epochs: agreement does not need good models.
"""

import subprocess
import sys

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
pytest.importorskip("onnxscript")

from onnx.reference import ReferenceEvaluator  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import Pipeline, make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import check_random_state  # noqa: E402

import skvae  # noqa: E402
import skvae.onnx  # noqa: E402, F401  (registers the skl2onnx converters)
from skvae import (  # noqa: E402
    AutoencoderTransformer,
    CategoricalLikelihood,
    ConvArchitecture,
    CustomArchitecture,
    VAETransformer,
    to_onnx,
)
from skvae._utils import make_generator  # noqa: E402

RTOL = {np.float32: 1e-5, np.float64: 1e-9}
N_ROWS = 1000
SMALL = dict(max_iter=2, random_state=0, device="cpu")

#: name -> (estimator class, keyword arguments, n_features)
MODELS = {
    "mlp-gaussian-64": (VAETransformer, dict(hidden_layer_sizes=(16,)), 64),
    "mlp-bernoulli-64": (
        VAETransformer,
        dict(hidden_layer_sizes=(16,), likelihood="bernoulli"),
        64,
    ),
    "mlp-fullcov-64": (
        VAETransformer,
        dict(hidden_layer_sizes=(16,), covariance="full"),
        64,
    ),
    "mlp-categorical-64": (
        VAETransformer,
        dict(hidden_layer_sizes=(16,), likelihood=CategoricalLikelihood()),
        64,
    ),
    "mlp-gaussian-784": (VAETransformer, dict(hidden_layer_sizes=(32,)), 784),
    "conv-gaussian-64": (
        VAETransformer,
        dict(architecture=ConvArchitecture(channels=(4, 8)), image_shape=(1, 8, 8)),
        64,
    ),
    "conv-bernoulli-784": (
        VAETransformer,
        dict(
            architecture=ConvArchitecture(channels=(4, 8)),
            image_shape=(1, 28, 28),
            likelihood="bernoulli",
        ),
        784,
    ),
    "autoencoder-mlp-64": (
        AutoencoderTransformer,
        dict(hidden_layer_sizes=(16,), likelihood="bernoulli"),
        64,
    ),
    "autoencoder-conv-64": (
        AutoencoderTransformer,
        dict(architecture=ConvArchitecture(channels=(4, 8)), image_shape=(1, 8, 8)),
        64,
    ),
}


def assert_agrees(got, want, dtype):
    """The largest difference, relative to the output's scale, within RTOL."""
    assert got.dtype == want.dtype == dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape
    scale = np.max(np.abs(want))
    error = np.max(np.abs(got.astype(np.float64) - want))
    assert error <= RTOL[dtype] * scale, f"{error:.3g} relative to {scale:.3g}"


def _data(n_features, seed=0):
    return np.random.RandomState(seed).rand(N_ROWS, n_features)


_FITTED = {}


def fitted(name):
    """The model ``name``, fitted once per test session."""
    if name not in _FITTED:
        cls, kwargs, n_features = MODELS[name]
        _FITTED[name] = cls(n_components=3, **kwargs, **SMALL).fit(_data(n_features))
    return _FITTED[name]


def run(model, inputs, rows=None):
    """Outputs of an ONNX model: onnxruntime, or onnx's reference evaluator
    for float64 convolutions, which onnxruntime's CPU provider lacks."""
    ops = {node.op_type for node in model.graph.node}
    float64 = next(iter(inputs.values())).dtype == np.float64
    if float64 and ops & {"Conv", "ConvTranspose"}:
        inputs = {k: v[:rows] for k, v in inputs.items()}
        return ReferenceEvaluator(model).run(None, inputs)[0], rows
    session = ort.InferenceSession(
        model.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, inputs)[0], None


def _check_model(model):
    onnx.checker.check_model(model, full_check=True)


def _rows(name):
    return 100 if MODELS[name][2] == 784 and "conv" in name else None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_transform_agrees(name, dtype):
    est = fitted(name)
    X = _data(MODELS[name][2], seed=1).astype(dtype)
    before = X.copy()
    model = to_onnx(est, X)
    np.testing.assert_array_equal(X, before)  # the input is never modified
    _check_model(model)
    assert [i.name for i in model.graph.input] == ["X"]
    got, rows = run(model, {"X": X}, _rows(name))
    assert_agrees(got, est.transform(X[:rows]), dtype)
    one, _ = run(model, {"X": X[:1]})
    assert_agrees(one, est.transform(X[:1]), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_inverse_transform_agrees(name, dtype):
    est = fitted(name)
    Z = est.transform(_data(MODELS[name][2], seed=2).astype(dtype))
    model = to_onnx(est, Z, method="inverse_transform")
    _check_model(model)
    rows = _rows(name) and 20  # the reference ConvTranspose is slower still
    got, rows = run(model, {"Z": Z}, rows)
    assert_agrees(got, est.inverse_transform(Z[:rows]), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name", sorted(n for n in MODELS if MODELS[n][0] is VAETransformer)
)
def test_sample_agrees(name, dtype):
    """The graph with the noise as an input gives ``sample(1, X=X)``'s rows
    when fed the draws ``sample`` makes from its ``random_state``."""
    est = fitted(name)
    rows = (_rows(name) and 20) if dtype == np.float64 else None
    X = _data(MODELS[name][2], seed=3).astype(dtype)[:rows]
    n, d = X.shape[0], est.module_.n_components
    seed = check_random_state(0).randint(np.iinfo(np.int32).max)
    noise = torch.randn((n, 1, d), generator=make_generator(seed), dtype=torch.float64)
    noise = noise.numpy().reshape(n, d).astype(dtype)
    model = to_onnx(est, X, method="sample")
    _check_model(model)
    assert [i.name for i in model.graph.input] == ["X", "noise"]
    got, _ = run(model, {"X": X, "noise": noise})
    assert_agrees(got, est.sample(1, X=X, random_state=0), dtype)


def test_prior_samples_are_inverse_transform_of_normal_draws():
    est = fitted("mlp-bernoulli-64")
    model = to_onnx(est, np.zeros((1, 3)), method="inverse_transform")
    seed = check_random_state(0).randint(np.iinfo(np.int32).max)
    z = torch.randn((N_ROWS, 3), generator=make_generator(seed), dtype=torch.float64)
    got, _ = run(model, {"Z": z.numpy()})
    assert_agrees(got, est.sample(N_ROWS, random_state=0), np.float64)


def test_default_dtype_and_metadata():
    est = fitted("mlp-gaussian-64")
    model = to_onnx(est)
    elem = model.graph.input[0].type.tensor_type.elem_type
    assert elem == onnx.TensorProto.FLOAT
    dim = model.graph.input[0].type.tensor_type.shape.dim
    assert not dim[0].dim_value and dim[1].dim_value == 64  # dynamic batch axis
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["skvae_estimator"] == "VAETransformer"
    assert meta["skvae_method"] == "transform"
    assert meta["skvae_version"] == skvae.__version__


def test_export_leaves_the_estimator_as_it_was():
    est = fitted("mlp-gaussian-64")
    state = {k: v.clone() for k, v in est.module_.state_dict().items()}
    to_onnx(est, np.zeros((1, 64)))  # a float64 graph: converted on a copy
    for key, value in est.module_.state_dict().items():
        assert value.dtype == torch.float32
        torch.testing.assert_close(value, state[key], rtol=0, atol=0)


# --------------------------------------------------------------- pipelines


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pipeline_scaler_vae_logistic_regression(dtype):
    rng = np.random.RandomState(0)
    X = (rng.rand(N_ROWS, 64) * 16).astype(dtype)
    y = rng.randint(3, size=N_ROWS)
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("vae", VAETransformer(4, hidden_layer_sizes=(16,), **SMALL)),
            ("classify", LogisticRegression()),
        ]
    ).fit(X, y)
    model = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    _check_model(model)
    session = ort.InferenceSession(model.SerializeToString())
    labels, proba = session.run(None, {"X": X})
    np.testing.assert_array_equal(labels, pipe.predict(X))
    assert_agrees(proba.astype(dtype), pipe.predict_proba(X).astype(dtype), dtype)


def test_column_transformer_with_vae_and_autoencoder_inside():
    X = _data(96).astype(np.float32)
    columns = ColumnTransformer(
        [
            (
                "vae",
                make_pipeline(
                    StandardScaler(),
                    VAETransformer(3, hidden_layer_sizes=(8,), **SMALL),
                ),
                list(range(32)),
            ),
            (
                "ae",
                AutoencoderTransformer(2, hidden_layer_sizes=(8,), **SMALL),
                list(range(32, 64)),
            ),
            ("pca", PCA(2), list(range(64, 96))),
        ]
    ).fit(X)
    model = skl2onnx.to_onnx(columns, X[:1])
    session = ort.InferenceSession(model.SerializeToString())
    assert_agrees(session.run(None, {"X": X})[0], columns.transform(X), np.float32)


def test_the_refusals_pipeline_for_tables_converts():
    """The pipeline the table refusal points to: a mixed DataFrame through a
    ColumnTransformer, one ONNX input per column."""
    pd = pytest.importorskip("pandas")
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.RandomState(0)
    frame = pd.DataFrame(
        {
            "height": rng.normal(170, 10, N_ROWS).astype(np.float32),
            "weight": rng.normal(70, 12, N_ROWS).astype(np.float32),
            "colour": rng.choice(["red", "green", "blue"], N_ROWS),
        }
    )
    pipe = make_pipeline(
        make_column_transformer(
            (StandardScaler(), ["height", "weight"]),
            (OneHotEncoder(sparse_output=False), ["colour"]),
        ),
        VAETransformer(2, hidden_layer_sizes=(8,), **SMALL),
    ).fit(frame)
    model = skl2onnx.to_onnx(pipe, frame[:1])
    session = ort.InferenceSession(model.SerializeToString())
    inputs = {c: frame[[c]].to_numpy() for c in frame.columns}
    got = session.run(None, inputs)[0]
    want = pipe.transform(frame)  # float64: the encoder's output
    assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want))


def test_skl2onnx_below_opset_18_is_refused():
    X = _data(64).astype(np.float32)
    pipe = make_pipeline(StandardScaler(), fitted("mlp-gaussian-64")).fit(X)
    with pytest.raises(ValueError, match="target_opset=18"):
        skl2onnx.to_onnx(pipe, X[:1], target_opset=17)


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    "cls, method",
    [
        (VAETransformer, "transform"),
        (VAETransformer, "inverse_transform"),
        (VAETransformer, "sample"),
        (AutoencoderTransformer, "transform"),
        (AutoencoderTransformer, "inverse_transform"),
    ],
)
def test_unfitted_is_refused(cls, method):
    with pytest.raises(NotFittedError):
        to_onnx(cls(2), method=method)


def test_bad_arguments_are_refused():
    est = fitted("mlp-gaussian-64")
    with pytest.raises(
        TypeError, match="VAETransformer, a ConditionalVAE or an Autoencoder"
    ):
        to_onnx(PCA(2).fit(_data(64)))
    with pytest.raises(TypeError, match="import skvae.onnx"):
        to_onnx(make_pipeline(est))
    with pytest.raises(ValueError, match="method must be one of"):
        to_onnx(est, method="score_samples")
    with pytest.raises(ValueError, match="has no sample method"):
        to_onnx(fitted("autoencoder-mlp-64"), method="sample")
    with pytest.raises(ValueError, match="X has 5 features.*takes 64 features"):
        to_onnx(est, np.zeros((1, 5)))
    with pytest.raises(ValueError, match="takes 3 latent rows"):
        to_onnx(est, np.zeros((1, 64)), method="inverse_transform")
    with pytest.raises(ValueError, match="opset 18 or newer"):
        to_onnx(est, target_opset=17)


class _DataDependentEncoder(torch.nn.Module):
    """Meets the module contract, but branches on the data: not exportable."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.linear = torch.nn.Linear(n_features, 2 * n_components)

    def forward(self, x):
        out = self.linear(x)
        if out.sum() > 0:  # Python control flow on a tensor's value
            return out
        return -out


class _Decoder(torch.nn.Module):
    def __init__(self, n_components, n_outputs):
        super().__init__()
        self.linear = torch.nn.Linear(n_components, n_outputs)

    def forward(self, z):
        return self.linear(z)


def test_unexportable_user_module_gives_a_clear_error():
    X = _data(16)
    est = VAETransformer(
        2, architecture=CustomArchitecture(_DataDependentEncoder, _Decoder), **SMALL
    ).fit(X)
    with pytest.raises(ValueError, match="could not export the model's transform") as e:
        to_onnx(est, X)
    assert "control flow" in str(e.value)
    assert e.value.__cause__ is not None  # the exporter's own error, chained
    # the decoder alone exports
    model = to_onnx(est, est.transform(X), method="inverse_transform")
    got, _ = run(model, {"Z": est.transform(X)})
    assert_agrees(got, est.inverse_transform(est.transform(X)), np.float64)


def test_table_fitted_models_are_refused_with_the_pipeline_to_use():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    frame = pd.DataFrame({"x": rng.rand(50), "colour": rng.choice(["red", "blue"], 50)})
    est = VAETransformer(2, hidden_layer_sizes=(4,), **SMALL).fit(frame)
    with pytest.raises(ValueError, match="make_column_transformer"):
        to_onnx(est)
    X = _data(8)
    X[0, 0] = np.nan
    masked = VAETransformer(2, hidden_layer_sizes=(4,), missing="mask", **SMALL)
    with pytest.raises(ValueError, match="fitted on a table.*SimpleImputer"):
        to_onnx(masked.fit(X))


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "skvae\[onnx\]"'):
        to_onnx(fitted("mlp-gaussian-64"))


def test_import_skvae_does_not_import_onnx():
    code = (
        "import sys, skvae; skvae.to_onnx; "
        "print(sorted(m for m in ('onnx', 'onnxscript', 'onnxruntime', 'skl2onnx') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
