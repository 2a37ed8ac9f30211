"""skvae.save/load: round trips, and every kind of bad file refused with ValueError."""

import copy
import io
import json
import os
import pickle
import re
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

import skvae
from skvae import GaussianLikelihood, Likelihood, VAETransformer
from skvae._persistence import FORMAT_VERSION, _decode, _digest, _encode

TINY = dict(hidden_layer_sizes=(8,), max_iter=3, random_state=0, device="cpu")
ESTIMATORS = [
    getattr(skvae, name)
    for name in skvae.__all__
    if isinstance(getattr(skvae, name), type)
    and issubclass(getattr(skvae, name), skvae._base._BaseAutoencoder)
    # fitted without y; ConditionalVAE's round trips are in test_conditional.py
    and not getattr(skvae, name)().__sklearn_tags__().target_tags.required
]
FAST = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(40, 4))


@pytest.fixture(scope="module")
def fitted(X):
    return VAETransformer(2, **TINY).fit(X)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "vae.safetensors"
    fitted.save(path)
    return path


def fitted_state(est):
    """Every instance attribute but the torch objects, for comparisons."""
    return {
        k: v
        for k, v in vars(est).items()
        if k not in ("module_", "optimizer_", "device_")
    }


def assert_same_value(a, b, where="value"):
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, np.random.RandomState):
        sa, sb = a.get_state(), b.get_state()
        assert sa[0] == sb[0] and sa[2:] == sb[2:], where
        np.testing.assert_array_equal(sa[1], sb[1])
    elif isinstance(a, dict):
        assert sorted(map(repr, a)) == sorted(map(repr, b)), where
        for k in a:
            assert_same_value(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_value(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    elif type(a).__module__ in ("skvae._tabular", "skvae._columns"):  # encoder, kinds
        assert_same_value(vars(a), vars(b), f"{where} state")
    else:
        assert a == b, where


def assert_same_estimator(a, b):
    assert type(a) is type(b)
    if isinstance(a, skvae.VAEImputer):
        assert_same_value(
            {k: v for k, v in vars(a).items() if k != "vae_"},
            {k: v for k, v in vars(b).items() if k != "vae_"},
            "imputer state",
        )
        assert ("vae_" in vars(a)) == ("vae_" in vars(b))
        if "vae_" in vars(a):
            assert_same_estimator(a.vae_, b.vae_)
        return
    assert_same_value(fitted_state(a), fitted_state(b), "state")
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        assert torch.equal(sa[k].cpu(), sb[k].cpu()), k
    oa, ob = a.optimizer_.state_dict(), b.optimizer_.state_dict()
    assert oa["param_groups"] == ob["param_groups"]
    assert oa["state"].keys() == ob["state"].keys()
    for i in oa["state"]:
        for k in oa["state"][i]:
            assert torch.equal(oa["state"][i][k].cpu(), ob["state"][i][k].cpu())


def rewrite(path, out, *, doc=None, text=None, tensors=None, digest=True):
    """Write a tampered copy of ``path``: change the JSON document or tensors.

    ``doc`` changes the parsed document, ``text`` its JSON text.
    The digest is recomputed unless ``digest=False``, so the structural
    checks behind it are exercised rather than the checksum.
    """
    data = open(path, "rb").read()
    header_size = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + header_size])["__metadata__"]
    old = safetensors.torch.load(data)
    new_doc = json.loads(metadata["skvae"])
    if doc is not None:
        new_doc = doc(new_doc) or new_doc
    new_tensors = dict(old)
    if tensors is not None:
        new_tensors = tensors(new_tensors) or new_tensors
    new_text = json.dumps(new_doc, separators=(",", ":"))
    if text is not None:
        new_text = text(new_text)
    meta = {"skvae": new_text, "skvae_sha256": metadata["skvae_sha256"]}
    if digest:
        meta["skvae_sha256"] = _digest(new_text, new_tensors)
    with open(out, "wb") as f:
        f.write(safetensors.torch.save(new_tensors, metadata=meta))
    return out


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_round_trip_every_estimator(cls, X, tmp_path):
    est = cls(2, **TINY).fit(X)
    est.save(tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    assert_same_estimator(est, loaded)
    assert loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    Z = est.transform(X)
    np.testing.assert_array_equal(loaded.inverse_transform(Z), est.inverse_transform(Z))
    np.testing.assert_array_equal(
        loaded.transform(X.astype(np.float32)), est.transform(X.astype(np.float32))
    )
    if hasattr(est, "score_samples"):
        np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
        assert loaded.score(X) == est.score(X)
    if hasattr(est, "sample"):
        np.testing.assert_array_equal(
            loaded.sample(5, random_state=3), est.sample(5, random_state=3)
        )


def test_training_continues_identically_after_load(X, tmp_path):
    a = VAETransformer(2, **TINY, warm_start=True).fit(X)
    a.save(tmp_path / "m.safetensors")
    b = skvae.load(tmp_path / "m.safetensors")
    a.partial_fit(X)
    b.partial_fit(X)
    assert_same_estimator(a, b)
    a.fit(X)  # warm start: continues from the weights and optimizer state
    b.fit(X)
    assert_same_estimator(a, b)
    assert b.n_iter_ == 3 + 1 + 3


def test_unfitted_round_trip(tmp_path):
    est = VAETransformer(3, hidden_layer_sizes=[4, 5], beta=0.5)
    est.set_output(transform="pandas")
    est.save(tmp_path / "u.safetensors")
    loaded = skvae.load(tmp_path / "u.safetensors")
    assert loaded.get_params() == est.get_params()
    assert type(loaded.hidden_layer_sizes) is list
    with pytest.raises(NotFittedError):
        check_is_fitted(loaded)
    assert loaded._sklearn_output_config == {"transform": "pandas"}


def test_get_params_equal_exactly_for_unusual_values(X, tmp_path):
    est = VAETransformer(
        np.int64(2),
        hidden_layer_sizes=(8, np.int64(4)),
        likelihood=GaussianLikelihood(min_scale=0.01),
        learning_rate_init=np.float64(1e-3),
        device=torch.device("cpu"),
        random_state=np.random.RandomState(7),
        max_iter=2,
        tol=np.float64(1e-4),
    ).fit(X)
    est.save(tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    a, b = est.get_params(), loaded.get_params()
    assert a.keys() == b.keys()
    for key in a:
        assert_same_value(a[key], b[key], key)
    assert type(b["hidden_layer_sizes"]) is tuple
    assert type(b["hidden_layer_sizes"][1]) is np.int64
    # A RandomState shared by the parameter and the fit stays shared.
    assert loaded._random_state is loaded.random_state
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))


def test_feature_names_and_output_config_survive(X, tmp_path):
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    est = VAETransformer(2, **TINY).set_output(transform="pandas").fit(df)
    est.save(tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    assert list(loaded.feature_names_in_) == ["a", "b", "c", "d"]
    assert loaded.feature_names_in_.dtype == object
    pd.testing.assert_frame_equal(loaded.transform(df), est.transform(df))


def test_loads_on_cpu_by_default_and_on_request(saved):
    assert skvae.load(saved).device_ == torch.device("cpu")
    assert skvae.load(saved, device="cpu").device_ == torch.device("cpu")
    assert skvae.load(saved, device=torch.device("cpu")).device_.type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            skvae.load(saved, device="cuda")
    with pytest.raises(ValueError, match="not a valid torch device"):
        skvae.load(saved, device="banana")


def test_gpu_fitted_state_loads_on_cpu(X, tmp_path):
    """A model fitted with device='cuda' (simulated) loads on a CPU machine."""
    est = VAETransformer(2, **TINY).fit(X)
    expected = est.transform(X)
    est.device, est.device_ = "cuda", torch.device("cuda", 0)  # as fit on a GPU
    est.save(tmp_path / "gpu.safetensors")
    loaded = skvae.load(tmp_path / "gpu.safetensors")
    assert loaded.device_ == torch.device("cpu")
    assert loaded.get_params()["device"] == "cuda"  # the parameter is kept
    assert next(loaded.module_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(loaded.transform(X), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fitted_model_loads_without_cuda(X, tmp_path):
    est = VAETransformer(2, **{**TINY, "device": "cuda"}).fit(X)
    path = tmp_path / "cuda.safetensors"
    est.save(path)
    on_gpu = skvae.load(path, device="cuda")
    assert on_gpu.device_.type == "cuda"
    np.testing.assert_allclose(on_gpu.transform(X), est.transform(X))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Z.npy", est.transform(X))
    code = textwrap.dedent(
        f"""
        import numpy as np, torch, skvae
        assert not torch.cuda.is_available()
        est = skvae.load({str(path)!r})
        assert est.device_.type == "cpu"
        Z = est.transform(np.load({str(tmp_path / "X.npy")!r}))
        np.testing.assert_allclose(Z, np.load({str(tmp_path / "Z.npy")!r}), atol=1e-5)
        """
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_pickle_and_joblib_still_work(fitted, X):
    for restored in (
        pickle.loads(pickle.dumps(fitted)),
        joblib.load(_joblib_bytes(fitted)),
    ):
        np.testing.assert_array_equal(restored.transform(X), fitted.transform(X))


def _joblib_bytes(est):
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    return buffer


def test_file_is_plain_safetensors_with_json_metadata(saved, fitted):
    with safetensors.safe_open(saved, framework="pt") as f:
        names = set(f.keys())
        metadata = f.metadata()
    assert {f"module.{k}" for k in fitted.module_.state_dict()} <= names
    assert any(name.startswith("optimizer.") for name in names)
    doc = json.loads(metadata["skvae"])
    assert doc["format"] == "skvae" and doc["format_version"] == FORMAT_VERSION
    assert doc["class"] == "VAETransformer"
    assert set(doc["versions"]) >= {"skvae", "torch", "scikit-learn"}
    assert "loss_curve_" in doc["attributes"] and "_random_state" in doc["attributes"]


def test_save_is_deterministic_and_atomic(fitted, tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old content")
    fitted.save(path)
    first = _parsed(path.read_bytes())
    fitted.save(str(path))
    # safetensors writes its string metadata from a hash map, so the order of
    # the two metadata entries in the header may change between writes: compare
    # the parsed header and the tensor bytes rather than the raw file.
    assert _parsed(path.read_bytes()) == first
    assert os.listdir(tmp_path) == ["m.safetensors"]  # no temporary left behind


def _parsed(raw):
    """A safetensors file as (parsed JSON header, tensor bytes)."""
    size = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + size]), raw[8 + size :]


def test_saving_does_not_change_the_estimator(X, tmp_path):
    est = VAETransformer(2, **TINY).fit(X)
    before = copy.deepcopy(est)
    est.save(tmp_path / "m.safetensors")
    assert_same_estimator(before, est)
    assert est.device_ == before.device_


# ------------------------------------------------------------- save refusals


class _MyLikelihood(GaussianLikelihood):
    pass


class _MyVAE(VAETransformer):
    pass


def test_save_refuses_what_load_could_not_rebuild(X, tmp_path):
    path = tmp_path / "m.safetensors"
    est = VAETransformer(2, **{**TINY, "likelihood": _MyLikelihood()})
    with pytest.raises(TypeError, match="parameter 'likelihood'.*_MyLikelihood"):
        est.save(path)
    with pytest.raises(TypeError, match="only skvae's own estimators"):
        _MyVAE(2, **TINY).save(path)
    est = VAETransformer(2, **TINY).fit(X)
    est.extra_ = object()
    with pytest.raises(TypeError, match="attribute 'extra_'.*object"):
        est.save(path)
    est = VAETransformer(2, **TINY).fit(X)
    est.extra_ = np.ones(2, dtype=complex)
    with pytest.raises(TypeError, match="attribute 'extra_'.*dtype"):
        est.save(path)
    assert not path.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"hidden_layer_sizes": (4,)},
        {"activation": "tanh"},
        {"n_components": 3},
        {"likelihood": "bernoulli"},
    ],
)
def test_save_refuses_parameters_changed_after_fit(X, tmp_path, change):
    est = VAETransformer(2, **TINY).fit(X).set_params(**change)
    with pytest.raises(ValueError, match="changed after fit"):
        est.save(tmp_path / "m.safetensors")


def test_save_refuses_non_finite_weights(X, tmp_path):
    est = VAETransformer(2, **TINY).fit(X)
    with torch.no_grad():
        est.module_.encoder[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        est.save(tmp_path / "m.safetensors")


def test_save_bad_path_types(fitted):
    for bad in (None, 3, ["a"]):
        with pytest.raises(TypeError):
            fitted.save(bad)


# ---------------------------------------------------- damaged and foreign files


def _load_error(path):
    with pytest.raises(ValueError) as info:
        skvae.load(path)
    return str(info.value)


def test_empty_truncated_and_garbage_files(saved, tmp_path):
    data = saved.read_bytes()
    bad = tmp_path / "bad"
    bad.write_bytes(b"")
    assert "empty" in _load_error(bad)
    for size in (1, 7, 8, 9, 100, len(data) // 2, len(data) - 1):
        bad.write_bytes(data[:size])
        assert "safetensors" in _load_error(bad)
    bad.write_bytes(data + b"\0" * 8)
    _load_error(bad)
    bad.write_bytes(b"hello world, not a model at all")
    _load_error(bad)


def test_any_changed_byte_is_detected(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    bad = tmp_path / "bad"
    for index in range(0, len(data), max(1, len(data) // 97)):
        mutated = bytearray(data)
        mutated[index] ^= 0x20
        bad.write_bytes(bytes(mutated))
        _load_error(bad)


def test_changed_weight_fails_the_digest(saved, tmp_path):
    def shift(tensors):
        tensors["module.encoder.0.weight"] = tensors["module.encoder.0.weight"] + 1

    path = rewrite(saved, tmp_path / "t", tensors=shift, digest=False)
    assert "digest" in _load_error(path)


def test_foreign_files(saved, tmp_path):
    path = tmp_path / "foreign"
    safetensors.torch.save_file({"weight": torch.zeros(2)}, path)
    assert "not saved by skvae" in _load_error(path)
    torch.save({"weight": torch.zeros(2)}, path)
    assert "pickle" in _load_error(path)
    path.write_bytes(pickle.dumps({"weight": 1}))
    assert "never unpickles" in _load_error(path)
    joblib.dump(VAETransformer(), path)
    assert "pickle" in _load_error(path)


def test_newer_format_version_is_refused_by_name(saved, tmp_path):
    def newer(doc):
        doc["format_version"] = FORMAT_VERSION + 41

    message = _load_error(rewrite(saved, tmp_path / "t", doc=newer))
    assert f"format version {FORMAT_VERSION + 41}" in message
    assert "upgrade skvae" in message


def _set(path, value):
    def change(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        if value is KeyError:
            del target[path[-1]]
        else:
            target[path[-1]] = value

    return change


TAMPERED_DOCS = {
    "other class": (_set(["class"], "os.system"), "not one of skvae's estimators"),
    "base class": (_set(["class"], "_BaseAutoencoder"), "not one of skvae's"),
    "class with other params": (
        _set(["class"], "AutoencoderTransformer"),
        "parameters do not match",
    ),
    "missing param": (_set(["params", "beta"], KeyError), "missing: \\['beta'\\]"),
    "unknown param": (_set(["params", "evil"], 1), "unknown: \\['evil'\\]"),
    "invalid param": (_set(["params", "activation"], "rm -rf"), "parameters are"),
    "missing attribute": (
        _set(["attributes", "loss_curve_"], KeyError),
        "lacks the fitted attributes",
    ),
    "no n_features_in_": (
        _set(["attributes", "n_features_in_"], KeyError),
        "n_features_in_",
    ),
    "wrong attribute type": (_set(["attributes", "n_iter_"], "3"), "n_iter_"),
    "dunder attribute": (_set(["attributes", "__class__"], 1), "'__class__'"),
    "method attribute": (_set(["attributes", "transform"], 1), "'transform'"),
    "parameter attribute": (_set(["attributes", "beta"], 1), "'beta'"),
    "unknown tag": (
        _set(["attributes", "n_iter_"], {"__skvae__": "pickle", "value": "x"}),
        "unknown value tag",
    ),
    "untagged object": (_set(["attributes", "n_iter_"], {"a": 1}), "unknown value"),
    "likelihood class": (
        _set(
            ["attributes", "likelihood_"],
            {"__skvae__": "likelihood", "class": "os.system", "params": []},
        ),
        "not one of skvae's likelihoods",
    ),
    "object array of ints": (
        _set(
            ["attributes", "extra_"],
            {"__skvae__": "ndarray", "dtype": "|O", "shape": [1], "data": [1]},
        ),
        "extra_",
    ),
    "structured dtype": (
        _set(
            ["attributes", "extra_"],
            {
                "__skvae__": "ndarray",
                "dtype": "[('a', '<i4')]",
                "shape": [0],
                "data": [],
            },
        ),
        "dtype",
    ),
    "shape mismatch": (
        _set(
            ["attributes", "extra_"],
            {"__skvae__": "ndarray", "dtype": "<f8", "shape": [3], "data": [1.0]},
        ),
        "shape",
    ),
    "bad float tag": (
        _set(["attributes", "best_loss_"], {"__skvae__": "float", "value": "1e999"}),
        "invalid float",
    ),
    "unfitted with weights": (_set(["fitted"], False), "unfitted"),
    "huge hidden layer": (
        _set(["params", "hidden_layer_sizes"], [10**12]),
        "cannot hold",
    ),
    "many hidden layers": (
        _set(["params", "hidden_layer_sizes"], [8] * 50),
        "cannot hold",
    ),
    "wrong hidden layer": (
        _set(["params", "hidden_layer_sizes"], [7]),
        "shape",
    ),
    "wrong activation": (_set(["params", "activation"], "tanh"), ""),
    "bad learning rate": (
        _set(
            ["optimizer", "param_groups"],
            [{"__skvae__": "dict", "items": [["lr", "fast"], ["params", [0]]]}],
        ),
        "learning rate",
    ),
    "bad random state": (
        _set(["attributes", "_random_state", "pos"], 10**6),
        "RandomState",
    ),
    "not json object": (lambda doc: ["skvae"], "not an skvae document"),
}


@pytest.mark.parametrize("case", TAMPERED_DOCS, ids=str)
def test_tampered_documents_are_refused(saved, tmp_path, case):
    change, expected = TAMPERED_DOCS[case]
    path = rewrite(saved, tmp_path / "t", doc=change)
    if case == "wrong activation":
        # Same shapes, other function: loads, but cannot pass for the original.
        loaded = skvae.load(path)
        assert loaded.activation == "tanh"
        return
    assert re.search(expected, _load_error(path))


def test_deeply_nested_document_is_refused(saved, tmp_path):
    def nest(text):
        return text.replace('"n_iter_":3', '"n_iter_":' + "[" * 100_000 + "]" * 100_000)

    path = rewrite(saved, tmp_path / "t", text=nest)
    assert "JSON" in _load_error(path)


def _drop(name):
    def change(tensors):
        del tensors[name]

    return change


def _replace(name, value):
    def change(tensors):
        tensors[name] = value

    return change


W = "module.encoder.0.weight"
TAMPERED_TENSORS = {
    "missing weight": (_drop(W), "missing"),
    "extra weight": (_replace("module.encoder.9.weight", torch.zeros(2)), "unexpected"),
    "stray tensor": (_replace("evil", torch.zeros(2)), "unexpected tensor 'evil'"),
    "wrong shape": (_replace(W, torch.zeros(3, 3)), "shape"),
    "wrong dtype": (_replace(W, torch.zeros(8, 4, dtype=torch.float64)), "dtype"),
    "nan weight": (_replace(W, torch.full((8, 4), float("nan"))), "non-finite"),
    "pickle as weight": (
        _replace(
            W, torch.frombuffer(bytearray(pickle.dumps(1) * 10), dtype=torch.uint8)
        ),
        "dtype",
    ),
    "optimizer wrong shape": (_replace("optimizer.0.exp_avg", torch.zeros(2)), "shape"),
    "optimizer missing step": (_drop("optimizer.0.step"), "Adam"),
    "optimizer unknown index": (
        _replace("optimizer.99.exp_avg", torch.zeros(2)),
        "unexpected tensor",
    ),
    "optimizer int step": (
        _replace("optimizer.0.step", torch.tensor(3, dtype=torch.int64)),
        "dtype",
    ),
}


@pytest.mark.parametrize("case", TAMPERED_TENSORS, ids=str)
def test_tampered_tensors_are_refused(saved, tmp_path, case):
    change, expected = TAMPERED_TENSORS[case]
    message = _load_error(rewrite(saved, tmp_path / "t", tensors=change))
    assert expected in message


class _Malicious:
    """Unpickling this creates the marker file (the payload runs code)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_files_run_nothing(saved, tmp_path):
    marker = tmp_path / "marker"
    payload = pickle.dumps(_Malicious(marker))
    pickle.loads(payload)  # the payload is real: unpickling creates the marker
    assert marker.exists()
    marker.unlink()

    text = payload.decode("latin-1")
    candidates = [tmp_path / "whole.pkl"]
    candidates[0].write_bytes(payload)
    candidates.append(rewrite(saved, tmp_path / "as_params", doc=lambda d: text))
    candidates.append(
        rewrite(saved, tmp_path / "as_value", doc=_set(["attributes", "n_iter_"], text))
    )
    candidates.append(
        rewrite(
            saved,
            tmp_path / "as_tag",
            doc=_set(
                ["attributes", "likelihood_"],
                {"__skvae__": "likelihood", "class": "builtins.open", "params": []},
            ),
        )
    )
    candidates.append(
        rewrite(
            saved,
            tmp_path / "as_tensor",
            tensors=_replace(
                W, torch.frombuffer(bytearray(payload), dtype=torch.uint8)
            ),
        )
    )
    # The document itself replaced by the pickle bytes.
    data = saved.read_bytes()
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    header["__metadata__"]["skvae"] = text
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    doc_path = tmp_path / "as_doc"
    doc_path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + header_size :])
    candidates.append(doc_path)
    for path in candidates:
        _load_error(path)
        assert not marker.exists(), path.name


def test_load_missing_file_and_bad_path(tmp_path):
    with pytest.raises(FileNotFoundError):
        skvae.load(tmp_path / "nope.safetensors")
    with pytest.raises(IsADirectoryError):
        skvae.load(tmp_path)
    with pytest.raises(TypeError):
        skvae.load(None)


# ------------------------------------------------------- the value encoding


def test_encoding_round_trips_every_supported_type():
    values = {
        "none": None,
        "bools": [True, False],
        "int": 2**70,
        "floats": [0.1, -0.0, 1e308, float("nan"), float("inf"), float("-inf")],
        "str": "é\0\"'",
        "tuple": (1, (2.5, "x"), []),
        "dict": {1: "a", "b": {2.0: None}, (1, 2): True},
        "f32": np.array([[1.5, np.nan], [np.inf, -1e-30]], dtype=np.float32),
        "empty": np.zeros((0, 3)),
        "0d": np.array(3, dtype=np.uint8),
        "bool array": np.array([True, False]),
        "str array": np.array(["a", "bcd"]),
        "object str array": np.array(["a", "b"], dtype=object),
        "int64 max": np.array([np.iinfo(np.int64).max, -1]),
        "uint64 max": np.array([np.iinfo(np.uint64).max], dtype=np.uint64),
        "scalars": [np.float32(0.1), np.int8(-3), np.bool_(True), np.float64("nan")],
        "device": torch.device("cuda", 1),
        "likelihood": GaussianLikelihood(min_scale=0.5),
        "random state": np.random.RandomState(3),
    }
    values["random state"].normal()  # a cached gaussian in the state
    decoded = _decode(json.loads(json.dumps(_encode(values, "v"))), "v")
    assert_same_value(decoded, values)


class _Other:
    pass


@pytest.mark.parametrize(
    "value",
    [
        _Other(),
        1 + 2j,
        np.complex64(1),
        np.array([1 + 1j]),
        np.array([object()], dtype=object),
        np.datetime64("2020-01-01"),
        np.longdouble(1),
        torch.zeros(2),
        {1, 2},
        b"bytes",
        np.random.default_rng(0),
        np.array([1.0]).view(np.recarray),
    ],
    ids=repr,
)
def test_encoding_refuses_unsupported_types(value):
    with pytest.raises(TypeError, match="cannot save attribute 'x_'"):
        _encode({"k": value}, "attribute 'x_'")


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    hnp.arrays(
        st.sampled_from(["<f8", "<f4", "<i8", "|u1", "|b1", "<U3"]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
    ),
)
_values = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(
            st.one_of(st.text(max_size=3), st.integers()), inner, max_size=3
        ),
    ),
    max_leaves=10,
)


@FAST
@given(_values)
def test_encoding_round_trip_property(value):
    text = json.dumps(_encode(value, "v"), allow_nan=False)
    assert_same_value(_decode(json.loads(text), "v"), value)


def test_digest_mismatch_message_and_unfitted_check(tmp_path):
    est = VAETransformer()
    est.save(tmp_path / "u.safetensors")
    data = (tmp_path / "u.safetensors").read_bytes()
    assert skvae.load(tmp_path / "u.safetensors").get_params() == est.get_params()
    bad = data.replace(b'\\"beta\\":1.0', b'\\"beta\\":2.0')
    assert bad != data
    (tmp_path / "b").write_bytes(bad)
    assert "digest" in _load_error(tmp_path / "b")


def test_likelihood_subclass_is_not_a_loaded_class():
    # Only exported concrete likelihoods are rebuilt; the base class is not.
    doc = {"__skvae__": "likelihood", "class": "Likelihood", "params": []}
    with pytest.raises(ValueError, match="not one of skvae's likelihoods"):
        _decode(doc, "x")
    assert isinstance(GaussianLikelihood(), Likelihood)


# ------------------------------------ tables, masked and quantile models, imputers


def _table(n=48, seed=0, missing=False):
    """A DataFrame with one column of every dtype a table model keeps."""
    rng = np.random.RandomState(seed)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "count": rng.randint(0, 10, n),
            "y": rng.gamma(1.0, size=n).astype(np.float32),
            "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
            "size": pd.Categorical(
                rng.choice([3, 1, 2], n), categories=[3, 1, 2], ordered=True
            ),
            "shape": pd.Series(rng.choice(["round", "square"], n), dtype=object),
            "name": pd.Series(rng.choice(["ann", "bob"], n), dtype="str"),
            "label": pd.Series(rng.choice(["p", "q"], n), dtype="string"),
            "flag": rng.rand(n) > 0.5,
            "ints": pd.array(rng.randint(-3, 3, n), dtype="Int64"),
            "maybe": pd.array(rng.rand(n) > 0.5, dtype="boolean"),
            "share": pd.array(rng.rand(n), dtype="Float64"),
        }
    )
    df.index = pd.RangeIndex(100, 100 + n)  # not the default, to check it is kept
    if missing:
        df.loc[df.index[::3], "x"] = np.nan
        df.loc[df.index[::4], "colour"] = None
        df.loc[df.index[::5], "ints"] = pd.NA
        df.loc[df.index[::6], "shape"] = None
    return df


def _incomplete(n=48, seed=0):
    X = np.random.RandomState(seed).normal(size=(n, 4))
    X[::3, 1] = np.nan
    X[::5, 3] = np.nan
    return X


TABLE_MODELS = {
    "mixed frame": (VAETransformer, {}, lambda: _table()),
    "mixed frame autoencoder": (skvae.AutoencoderTransformer, {}, lambda: _table()),
    "masked frame": (VAETransformer, {"missing": "mask"}, lambda: _table(missing=True)),
    "masked array": (VAETransformer, {"missing": "mask"}, _incomplete),
    "masked float32 array": (
        VAETransformer,
        {"missing": "mask"},
        lambda: _incomplete().astype(np.float32),
    ),
    "quantile frame": (VAETransformer, {"numeric_scaling": "quantile"}, _table),
    "quantile array": (
        VAETransformer,
        {"numeric_scaling": "quantile"},
        lambda: np.random.RandomState(0).gamma(1.0, size=(48, 3)),
    ),
    "masked auto-covariance array": (
        VAETransformer,
        {"missing": "mask", "covariance": "auto"},
        _incomplete,
    ),
    "masked full-covariance frame": (
        VAETransformer,
        {"missing": "mask", "covariance": "full"},
        lambda: _table(missing=True),
    ),
    "masked quantile frame autoencoder": (
        skvae.AutoencoderTransformer,
        {"missing": "mask", "numeric_scaling": "quantile"},
        lambda: _table(missing=True),
    ),
}


def _fit_table_model(case):
    cls, params, data = TABLE_MODELS[case]
    X = data()
    return cls(2, **{**TINY, "max_iter": 2}, **params).fit(X), X


def assert_same_output(a, b):
    """Bitwise-equal arrays, or DataFrames with the same dtypes and index."""
    assert type(a) is type(b)
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert list(a.dtypes) == list(b.dtypes)
    elif isinstance(a, list):
        for x, y in zip(a, b, strict=True):
            assert_same_output(x, y)
    else:
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", TABLE_MODELS, ids=str)
def test_table_models_round_trip_exactly(case, tmp_path):
    est, X = _fit_table_model(case)
    assert hasattr(est, "tabular_")
    est.save(tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    assert_same_estimator(est, loaded)
    assert loaded.get_params() == est.get_params()
    Z = est.transform(X)
    assert_same_output(loaded.transform(X), Z)
    assert_same_output(loaded.inverse_transform(Z), est.inverse_transform(Z))
    assert_same_output(
        loaded.inverse_transform(Z.astype(np.float32)),
        est.inverse_transform(Z.astype(np.float32)),
    )
    if hasattr(est, "score_samples"):
        assert_same_output(loaded.score_samples(X), est.score_samples(X))
    if hasattr(est, "sample"):
        for noise in (False, True):
            assert_same_output(
                loaded.sample(6, random_state=3, decoder_noise=noise),
                est.sample(6, random_state=3, decoder_noise=noise),
            )
    if isinstance(X, pd.DataFrame):
        out = loaded.inverse_transform(Z)
        assert list(out.columns) == list(X.columns)
        assert list(out.dtypes) == list(X.dtypes)
        assert list(out["size"].cat.categories) == [3, 1, 2]
        assert out["size"].cat.ordered
        assert isinstance(out.index, pd.RangeIndex)


@pytest.mark.parametrize("data", ["array", "frame"])
def test_imputer_round_trips_exactly(data, tmp_path):
    X = _incomplete() if data == "array" else _table(missing=True)
    imputer = skvae.VAEImputer(2, **{**TINY, "max_iter": 2}).fit(X)
    imputer.save(tmp_path / "imp.safetensors")
    loaded = skvae.load(tmp_path / "imp.safetensors")
    assert type(loaded) is skvae.VAEImputer
    assert loaded.get_params() == imputer.get_params()
    assert_same_estimator(imputer, loaded)
    assert_same_output(loaded.transform(X), imputer.transform(X))
    for noise in (True, False):
        assert_same_output(
            loaded.sample_imputations(X, 2, random_state=1, decoder_noise=noise),
            imputer.sample_imputations(X, 2, random_state=1, decoder_noise=noise),
        )
    if data == "frame":
        filled = loaded.transform(X)
        assert filled.index.equals(X.index)  # the input's index, not a new one
        assert list(filled.dtypes) == list(X.dtypes)
        assert not filled.isna().any().any()


def test_imputer_file_layout_and_unfitted_round_trip(tmp_path):
    rs = np.random.RandomState(5)
    imputer = skvae.VAEImputer(2, **{**TINY, "random_state": rs}).fit(_incomplete())
    path = tmp_path / "imp.safetensors"
    imputer.save(path)
    with safetensors.safe_open(path, framework="pt") as f:
        names, doc = set(f.keys()), json.loads(f.metadata()["skvae"])
    assert names and all(name.startswith("vae_.") for name in names)
    assert {f"vae_.module.{k}" for k in imputer.vae_.module_.state_dict()} <= names
    assert doc["format_version"] == FORMAT_VERSION == 2
    assert doc["class"] == "VAEImputer" and "vae_" not in doc["attributes"]
    assert doc["nested"]["vae_"]["class"] == "VAETransformer"
    assert "format" not in doc["nested"]["vae_"]
    # one RandomState shared by the imputer, its model and the model's fit
    loaded = skvae.load(path)
    assert loaded.vae_.random_state is loaded.random_state
    assert loaded.vae_._random_state is loaded.random_state

    unfitted = skvae.VAEImputer(3, hidden_layer_sizes=[4])
    unfitted.save(path)
    loaded = skvae.load(path)
    assert loaded.get_params() == unfitted.get_params()
    with pytest.raises(NotFittedError):
        check_is_fitted(loaded)


def test_format_version_1_files_still_load(saved, fitted, X, tmp_path):
    # Version 2 left the layout of models fitted on arrays as version 1 wrote it.
    path = rewrite(saved, tmp_path / "v1", doc=_set(["format_version"], 1))
    loaded = skvae.load(path)
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


@pytest.mark.parametrize(
    "change",
    [
        {"numeric_scaling": "quantile"},
        {"numeric_scaling": "auto"},  # "quantile" for a DataFrame
        {"missing": "error"},
        {"likelihood": "bernoulli"},
        {"likelihood": GaussianLikelihood()},
    ],
    ids=repr,
)
def test_save_refuses_table_parameters_changed_after_fit(change, tmp_path):
    est = VAETransformer(2, **TINY, missing="mask", numeric_scaling="standard")
    est.fit(_table(missing=True))
    est.set_params(**change)
    with pytest.raises(ValueError, match="changed after fit"):
        est.save(tmp_path / "m.safetensors")
    imputer = skvae.VAEImputer(2, **TINY).fit(_incomplete())
    imputer.vae_.set_params(**change)
    if change == {"numeric_scaling": "auto"}:  # "standard" for an array: no change
        imputer.save(tmp_path / "m.safetensors")
        return
    with pytest.raises(ValueError, match="changed after fit"):
        imputer.save(tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


def test_save_refuses_columns_it_cannot_store(tmp_path):
    df = _table()
    df["when"] = pd.Categorical(pd.date_range("2020-01-01", periods=len(df)))
    est = VAETransformer(2, **TINY).fit(df)
    with pytest.raises(TypeError, match="cannot save column 'when'"):
        est.save(tmp_path / "m.safetensors")
    imputer = skvae.VAEImputer(2, **TINY).fit(_incomplete())
    imputer.vae_ = object()
    with pytest.raises(TypeError, match="'vae_'.*not one of skvae's autoencoders"):
        imputer.save(tmp_path / "m.safetensors")
    assert not (tmp_path / "m.safetensors").exists()


@pytest.fixture(scope="module")
def table_saved(tmp_path_factory):
    est = VAETransformer(2, **TINY, missing="mask", numeric_scaling="standard")
    est.fit(_table(missing=True))
    path = tmp_path_factory.mktemp("table") / "table.safetensors"
    est.save(path)
    return path


@pytest.fixture(scope="module")
def quantile_saved(tmp_path_factory):
    est = VAETransformer(2, **TINY, numeric_scaling="quantile").fit(_table())
    path = tmp_path_factory.mktemp("quantile") / "quantile.safetensors"
    est.save(path)
    return path


@pytest.fixture(scope="module")
def imputer_saved(tmp_path_factory):
    imputer = skvae.VAEImputer(2, **TINY).fit(_incomplete())
    path = tmp_path_factory.mktemp("imputer") / "imputer.safetensors"
    imputer.save(path)
    return path


def _tabular(change, nested=False):
    """A document change that edits the decoded state of ``tabular_``."""

    def edit(doc):
        part = doc["nested"]["vae_"] if nested else doc
        tag = part["attributes"]["tabular_"]
        state = _decode(tag["state"], "state")
        change(state)
        tag["state"] = _encode(state, "state")

    return edit


def _column(name, **values):
    """Set fields of one column's kind in the tabular state."""

    def change(state):
        kind = state["kinds"][state["columns"].index(name)]
        for key, value in values.items():
            if value is KeyError:
                del kind[key]
            else:
                kind[key] = value

    return change


def _categories_dtype(**values):
    def change(state):
        dtype = state["kinds"][state["columns"].index("size")]["dtype"]
        dtype.update(values)

    return change


def _state(key, value):
    def change(state):
        state[key] = value(state) if callable(value) else value

    return change


TAMPERED_TABLES = {
    "kind not whitelisted": (_column("x", kind="_Evil"), "kind '_Evil'"),
    "kind as a path": (_column("x", kind="os.system"), "not one of _Boolean"),
    "kind for other scaling": (
        _column(
            "x",
            kind="_Quantile",
            references=np.linspace(0, 1, 3),
            quantiles=np.zeros(3),
            margin=0.1,
        ),
        "_Quantile column, but the encoder scales numeric columns with 'standard'",
    ),
    "missing field": (_column("x", scale=KeyError), "fields"),
    "extra field": (_column("flag", mean=0.0), "fields"),
    "negative scale": (_column("x", scale=-1.0), "scale -1.0"),
    "nan mean": (_column("x", mean=float("nan")), "invalid mean"),
    "int mean": (_column("x", mean=1), "invalid mean"),
    "empty range": (_column("count", low=5.0, high=1.0), "empty"),
    "extension dtype not whitelisted": (
        _column("ints", dtype={"extension": "datetime64[ns, UTC]"}),
        "not one of the pandas dtypes",
    ),
    "extension dtype as a path": (
        _column("ints", dtype={"extension": "builtins.eval"}),
        "'builtins.eval'",
    ),
    "dtype not for the kind": (
        _column("flag", dtype=np.dtype(np.float64)),
        "a _Boolean column cannot have",
    ),
    "string dtype for numbers": (
        _column("x", dtype={"extension": "string"}),
        "a _Numeric column cannot have",
    ),
    "unicode dtype": (_column("shape", dtype=np.dtype("<U3")), "no column can have"),
    "unreadable dtype": (_column("x", dtype="float64"), "no readable dtype"),
    "duplicate categories": (
        _column("shape", categories=["round", "round"]),
        "duplicate categories",
    ),
    "non-str categories": (_column("shape", categories=[1, 2]), "not str"),
    "no categories": (_column("shape", categories=[]), "no list of categories"),
    "categories differ from dtype": (
        _column("size", categories=[1, 2, 3]),
        "differ from its dtype",
    ),
    "duplicate categorical dtype categories": (
        _categories_dtype(categories=np.array([1, 1, 2])),
        "duplicate categories",
    ),
    "categorical dtype with nan": (
        _categories_dtype(
            categories=np.array([1.0, np.nan, 2.0]),
            categories_dtype=np.dtype(np.float64),
        ),
        "missing value",
    ),
    "categorical dtype of categoricals": (
        _categories_dtype(
            categories_dtype={
                "categories": np.array([1]),
                "categories_dtype": np.dtype(np.int64),
                "ordered": False,
            }
        ),
        "themselves categorical",
    ),
    "ordered not a bool": (_categories_dtype(ordered="yes"), "'ordered'"),
    "order not a permutation": (
        _state("order", lambda s: [0] * len(s["order"])),
        "permutation",
    ),
    "columns differ from n_features_in_": (
        _state("columns", lambda s: s["columns"][:-1]),
        "one column kind per column",
    ),
    "unhashable column": (
        _state("columns", lambda s: [["x"], *s["columns"][1:]]),
        "not hashable",
    ),
    "numeric scaling unknown": (_state("numeric", "log"), "'log' is unknown"),
    "scaling differs from parameters": (
        _state("numeric", "quantile"),
        "scales numeric columns",
    ),
    "float dtype on a frame": (
        _state("float_dtype", np.dtype(np.float64)),
        "no float_dtype",
    ),
}


@pytest.mark.parametrize("case", TAMPERED_TABLES, ids=str)
def test_tampered_table_encoders_are_refused(table_saved, tmp_path, case):
    change, expected = TAMPERED_TABLES[case]
    path = rewrite(table_saved, tmp_path / "t", doc=_tabular(change))
    message = _load_error(path)
    assert re.search(expected, message), message


def _quantiles(**values):
    return _tabular(_column("x", **values))


TAMPERED_QUANTILES = {
    "non-monotone quantiles": (
        lambda q, r: {"quantiles": q[::-1].copy()},
        "non-decreasing",
    ),
    "infinite quantile": (
        lambda q, r: {"quantiles": np.r_[q[:-1], np.inf]},
        "not finite",
    ),
    "quantiles of another length": (
        lambda q, r: {"quantiles": q[:-1]},
        "one per reference",
    ),
    "quantiles as a matrix": (
        lambda q, r: {"quantiles": q[None, :]},
        "one per reference",
    ),
    "references not evenly spaced": (
        lambda q, r: {"references": r**2},
        "evenly spaced",
    ),
    "too few references": (
        lambda q, r: {"references": r[:1], "quantiles": q[:1]},
        "evenly spaced",
    ),
    "float32 quantiles": (
        lambda q, r: {"quantiles": q.astype(np.float32)},
        "float64 quantiles",
    ),
    "margin out of range": (lambda q, r: {"margin": 0.75}, "margin 0.75"),
}


@pytest.mark.parametrize("case", TAMPERED_QUANTILES, ids=str)
def test_tampered_quantiles_are_refused(quantile_saved, tmp_path, case):
    make, expected = TAMPERED_QUANTILES[case]

    def change(state):
        kind = state["kinds"][state["columns"].index("x")]
        kind.update(make(kind["quantiles"], kind["references"]))

    path = rewrite(quantile_saved, tmp_path / "t", doc=_tabular(change))
    message = _load_error(path)
    assert re.search(expected, message), message


def _likelihood_param(key, value):
    """Replace one parameter of the saved MixedLikelihood."""

    def change(doc):
        items = doc["attributes"]["likelihood_"]["params"]["items"]
        for item in items:
            if item[0] == key:
                item[1] = value

    return change


TAMPERED_MODELS = {
    "tabular_ not an encoder": (
        _set(["attributes", "tabular_"], 3),
        "not a table encoder",
    ),
    "table of another width": (
        _set(["attributes", "n_features_in_"], 11),
        "columns, but n_features_in_=11",
    ),
    "table not masked": (
        _tabular(_state("allow_missing", False)),
        "missing='mask'",
    ),
    "feature names differ": (
        _tabular(_state("columns", lambda s: [*s["columns"][1:], s["columns"][0]])),
        "feature_names_in_ differ",
    ),
    "mixed likelihood unmasked": (
        _likelihood_param("masked", False),
        "does not match its table encoder",
    ),
    "mixed likelihood of strings": (
        _likelihood_param("likelihoods", {"__skvae__": "tuple", "items": ["x"]}),
        "tuple of likelihoods",
    ),
    "mixed likelihood sizes": (
        _likelihood_param("sizes", {"__skvae__": "tuple", "items": [-1]}),
        "positive size",
    ),
    "mixed likelihood masked flag": (
        _likelihood_param("masked", "yes"),
        "masked must be a boolean",
    ),
    "mixed likelihood variables": (
        _likelihood_param("n_variables", {"__skvae__": "tuple", "items": [7, 7]}),
        "n_variables",
    ),
    "tabular state untagged": (
        _set(["attributes", "tabular_", "state"], {"columns": []}),
        "unknown value tag",
    ),
    "tabular state not a dict": (
        _set(["attributes", "tabular_", "state"], [1, 2]),
        "not a dict",
    ),
}


@pytest.mark.parametrize("case", TAMPERED_MODELS, ids=str)
def test_tampered_table_models_are_refused(table_saved, tmp_path, case):
    change, expected = TAMPERED_MODELS[case]
    message = _load_error(rewrite(table_saved, tmp_path / "t", doc=change))
    assert re.search(expected, message), message


def _nested(change):
    def edit(doc):
        change(doc["nested"]["vae_"])

    return edit


TAMPERED_IMPUTERS = {
    "missing nested model": (
        _set(["nested", "vae_"], KeyError),
        "nest exactly its fitted model 'vae_'",
    ),
    "no nested section": (_set(["nested"], KeyError), "'nested'"),
    "extra nested model": (
        lambda doc: doc["nested"].update(other_=doc["nested"]["vae_"]),
        "nest exactly",
    ),
    "nested imputer": (
        _nested(_set(["class"], "VAEImputer")),
        "in its model 'vae_', it names the class 'VAEImputer'",
    ),
    "nested model not a dict": (_set(["nested", "vae_"], [1]), "unreadable"),
    "model as an attribute": (_set(["attributes", "vae_"], 1), "'vae_'"),
    "nested model unfitted": (
        _nested(_set(["fitted"], False)),
        "marked as unfitted",
    ),
    "unfitted imputer with a model": (_set(["fitted"], False), "marked as unfitted"),
    "n_iter_ differs": (_set(["attributes", "n_iter_"], 99), "n_iter_ differs"),
    "n_features_in_ differs": (
        _set(["attributes", "n_features_in_"], 3),
        "n_features_in_ differs",
    ),
    "no n_iter_": (_set(["attributes", "n_iter_"], KeyError), "lacks the fitted"),
    "model not masked": (
        _nested(_set(["params", "missing"], "error")),
        "not fitted with the parameters missing='error'",
    ),
    "nested bad parameter": (
        _nested(_set(["params", "activation"], "rm -rf")),
        "in its model 'vae_', its parameters are invalid",
    ),
}


@pytest.mark.parametrize("case", TAMPERED_IMPUTERS, ids=str)
def test_tampered_imputers_are_refused(imputer_saved, tmp_path, case):
    change, expected = TAMPERED_IMPUTERS[case]
    message = _load_error(rewrite(imputer_saved, tmp_path / "t", doc=change))
    assert re.search(expected, message), message


def test_imputer_tensors_must_sit_under_its_model(imputer_saved, tmp_path):
    def unprefixed(tensors):
        key = next(iter(tensors))
        tensors[key.removeprefix("vae_.")] = tensors.pop(key)

    message = _load_error(rewrite(imputer_saved, tmp_path / "t", tensors=unprefixed))
    assert "unexpected tensor 'module." in message or "optimizer." in message
    shifted = rewrite(
        imputer_saved,
        tmp_path / "u",
        tensors=_replace("vae_.module.encoder.0.weight", torch.zeros(2, 2)),
    )
    assert "shape" in _load_error(shifted)


def test_files_written_before_numeric_scaling_existed_still_load(
    saved, fitted, X, tmp_path
):
    # A file of the previous release: format version 1, no numeric_scaling.
    def older(doc):
        doc["format_version"] = 1
        del doc["params"]["numeric_scaling"]

    loaded = skvae.load(rewrite(saved, tmp_path / "old", doc=older))
    assert loaded.numeric_scaling == "standard"
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))


def test_other_missing_parameters_are_still_refused(saved, tmp_path):
    path = rewrite(saved, tmp_path / "m", doc=_set(["params", "beta"], KeyError))
    with pytest.raises(ValueError, match=r"missing: \['beta'\]"):
        skvae.load(path)


def test_pickles_from_before_numeric_scaling_still_work(fitted, X):
    import pickle

    state = fitted.__getstate__()
    del state["numeric_scaling"]
    old = type(fitted).__new__(type(fitted))
    old.__setstate__(state)
    assert old.get_params()["numeric_scaling"] == "standard"
    np.testing.assert_array_equal(old.transform(X), fitted.transform(X))
    assert pickle.loads(pickle.dumps(old)).get_params() == old.get_params()


def test_full_covariance_array_model_round_trips(tmp_path):
    X = np.random.RandomState(0).normal(size=(40, 4))
    est = VAETransformer(2, **{**TINY, "max_iter": 2}, covariance="full").fit(X)
    assert isinstance(est.likelihood_, skvae.FullCovarianceGaussianLikelihood)
    est.save(tmp_path / "m.safetensors")
    loaded = skvae.load(tmp_path / "m.safetensors")
    assert_same_estimator(est, loaded)
    assert loaded.likelihood_ == est.likelihood_
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
    kwargs = dict(decoder_noise=True, random_state=0)
    np.testing.assert_array_equal(loaded.sample(5, **kwargs), est.sample(5, **kwargs))


def test_files_written_before_covariance_existed_still_load(tmp_path):
    est, X = _fit_table_model("masked frame")
    est.save(tmp_path / "m.safetensors")

    def older(doc):  # no covariance parameter, none in the table encoder
        del doc["params"]["covariance"]
        _tabular(lambda state: state.pop("covariance"))(doc)

    loaded = skvae.load(rewrite(tmp_path / "m.safetensors", tmp_path / "o", doc=older))
    assert loaded.covariance == loaded.tabular_.covariance == "diagonal"
    assert_same_output(loaded.transform(X), est.transform(X))

    # and a file claiming the other covariance than its encoder's is refused
    def mismatched(doc):
        _tabular(lambda state: state.update(covariance="full"))(doc)

    tampered = rewrite(tmp_path / "m.safetensors", tmp_path / "t", doc=mismatched)
    assert "covariance" in _load_error(tampered)

    def unknown(doc):
        _tabular(lambda state: state.update(covariance="spherical"))(doc)

    tampered = rewrite(tmp_path / "m.safetensors", tmp_path / "u", doc=unknown)
    assert "covariance 'spherical' is unknown" in _load_error(tampered)


def test_pickled_table_encoders_from_before_covariance_still_work():
    import pickle

    est, X = _fit_table_model("masked frame")
    state = est.tabular_.__dict__.copy()
    del state["covariance"]
    old = type(est.tabular_).__new__(type(est.tabular_))
    old.__setstate__(state)
    assert old.covariance == "diagonal"
    assert old.likelihood() == est.tabular_.likelihood()
    assert pickle.loads(pickle.dumps(old)).covariance == "diagonal"


def test_a_file_claiming_auto_scaling_for_a_standardized_frame_is_refused(
    table_saved, tmp_path
):
    # fit with numeric_scaling="auto" scales a DataFrame by its quantiles: a
    # file whose standardized frame says "auto" is no state fit could produce
    def claim_auto(doc):
        value = json.dumps(doc["params"]["numeric_scaling"])
        assert "standard" in value
        doc["params"]["numeric_scaling"] = json.loads(value.replace("standard", "auto"))

    path = rewrite(table_saved, tmp_path / "t", doc=claim_auto)
    with pytest.raises(ValueError, match="numeric_scaling"):
        skvae.load(path)
    assert skvae.load(table_saved).numeric_scaling == "standard"
