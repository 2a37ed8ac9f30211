"""Files written by an attacker: each is refused with ValueError, promptly,
in memory proportional to the file, quoting little of what it holds.

Tampered files are written by editing the JSON document and recomputing the
digest, so that the structural checks are exercised rather than the checksum.
"""

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pandas as pd
import pytest
import safetensors.torch
import torch

import skvae
from skvae import VAETransformer
from skvae._persistence import _decode, _digest, _encode

TINY = dict(hidden_layer_sizes=(8,), max_iter=2, random_state=0, device="cpu")


def rewrite(path, out, *, doc=None, text=None, tensors=None):
    """A copy of ``path`` with its document or tensors changed, digest recomputed."""
    data = open(path, "rb").read()
    size = int.from_bytes(data[:8], "little")
    metadata = json.loads(data[8 : 8 + size])["__metadata__"]
    new_doc = json.loads(metadata["skvae"])
    if doc is not None:
        new_doc = doc(new_doc) or new_doc
    new_tensors = dict(safetensors.torch.load(data))
    if tensors is not None:
        new_tensors = tensors(new_tensors) or new_tensors
    new_text = json.dumps(new_doc, separators=(",", ":"))
    if text is not None:
        new_text = text(new_text)
    meta = {"skvae": new_text, "skvae_sha256": _digest(new_text, new_tensors)}
    with open(out, "wb") as f:
        f.write(safetensors.torch.save(new_tensors, metadata=meta))
    return out


def load_error(path, **kwargs):
    with pytest.raises(ValueError) as info:
        skvae.load(path, **kwargs)
    message = str(info.value)
    assert message.startswith(f"Cannot load {os.fspath(path)!r}"), message
    return message


def attribute(name, value):
    def change(doc):
        doc["attributes"][name] = value

    return change


def likelihood_param(key, value):
    def change(doc):
        for item in doc["attributes"]["likelihood_"]["params"]["items"]:
            if item[0] == key:
                item[1] = value

    return change


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(40, 4))


@pytest.fixture(scope="module")
def saved(X, tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "vae.safetensors"
    VAETransformer(2, **TINY).fit(X).save(path)
    return path


@pytest.fixture(scope="module")
def full_saved(X, tmp_path_factory):
    path = tmp_path_factory.mktemp("full") / "full.safetensors"
    VAETransformer(2, **TINY, covariance="full").fit(X).save(path)
    return path


@pytest.fixture(scope="module")
def table_saved(tmp_path_factory):
    rng = np.random.RandomState(0)
    df = pd.DataFrame(
        {
            "x": rng.normal(size=40),
            "small": rng.randint(-5, 5, 40).astype(np.int8),
            "c": pd.Categorical(rng.choice(["a", "b"], 40)),
        }
    )
    path = tmp_path_factory.mktemp("table") / "table.safetensors"
    VAETransformer(2, **TINY).fit(df).save(path)
    return path


# ------------------------------------------------------------ huge declarations


def huge_hidden_layer(doc):
    doc["params"]["hidden_layer_sizes"] = [4_000_000]


def extra_zero_tensor(tensors):
    tensors["module.extra"] = torch.zeros(4_000_000, 0)


def huge_mixed_sizes(doc):
    gaussian = {
        "__skvae__": "likelihood",
        "class": "GaussianLikelihood",
        "params": {"__skvae__": "dict", "items": [["min_scale", 0.001]]},
    }
    doc["attributes"]["likelihood_"]["params"]["items"] = [
        ["likelihoods", {"__skvae__": "tuple", "items": [gaussian]}],
        ["sizes", {"__skvae__": "tuple", "items": [10**7]}],
        ["n_variables", None],
        ["masked", False],
    ]


def huge_full_covariance(doc):
    doc["attributes"]["n_features_in_"] = 200_000


HUGE = {
    "hidden layer with extra zero-byte tensor": (
        "saved",
        huge_hidden_layer,
        extra_zero_tensor,
    ),
    "mixed sizes": ("table_saved", huge_mixed_sizes, None),
    "full covariance": ("full_saved", huge_full_covariance, None),
}


@pytest.mark.parametrize("case", HUGE, ids=str)
def test_huge_declared_models_are_refused(case, request, tmp_path):
    source, doc, tensors = HUGE[case]
    path = rewrite(
        request.getfixturevalue(source), tmp_path / "t", doc=doc, tensors=tensors
    )
    assert path.stat().st_size < 64 * 1024
    load_error(path)


_MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys, tracemalloc
    import skvae
    path = sys.argv[1]
    skvae.load(sys.argv[2])  # warm up: imports and first-call caches
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        skvae.load(path)
    except ValueError:
        pass
    else:
        raise SystemExit("loaded")
    peak = tracemalloc.get_traced_memory()[1]
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(peak, (after - before) * 1024)
    """
)


@pytest.mark.parametrize("case", HUGE, ids=str)
def test_refusing_a_huge_declared_model_takes_little_memory(case, request, tmp_path):
    source, doc, tensors = HUGE[case]
    original = request.getfixturevalue(source)
    path = rewrite(original, tmp_path / "t", doc=doc, tensors=tensors)
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(path), str(original)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout.split()
    peak, rss_growth = int(out[0]), int(out[1])
    assert peak < 50 * 2**20, peak
    assert rss_growth < 50 * 2**20, rss_growth


# ------------------------------------------------------------------ special files


def test_symlink_to_dev_zero_is_refused_at_once(tmp_path):
    link = tmp_path / "zero.safetensors"
    link.symlink_to("/dev/zero")
    assert "not a regular file" in load_error(link)


def test_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    result = {}

    def run():
        try:
            skvae.load(fifo)
        except ValueError as exc:
            result["message"] = str(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():  # unblock the reader before failing
        with open(fifo, "wb"):
            pass
        pytest.fail("load blocked on a named pipe")
    assert "not a regular file" in result["message"]


# ----------------------------------------------------------------- attributes


ATTRIBUTES = {
    "unknown attribute": (attribute("evil_", 1), "'evil_', which is not allowed"),
    "output config of another container": (
        attribute(
            "_sklearn_output_config",
            {"__skvae__": "dict", "items": [["transform", "evil"]]},
        ),
        "set_output",
    ),
    "output config of another method": (
        attribute(
            "_sklearn_output_config",
            {"__skvae__": "dict", "items": [["fit", "pandas"]]},
        ),
        "set_output",
    ),
    "missing attribute": (
        lambda doc: doc["attributes"].pop("n_active_components_") and None,
        r"lacks the fitted attributes \['n_active_components_'\]",
    ),
    "fractional n_iter_": (attribute("n_iter_", 2.5), "'n_iter_' should be an int"),
    "negative n_active_components_": (
        attribute("n_active_components_", -5),
        "'n_active_components_' is -5, outside",
    ),
    "too many active components": (
        attribute("n_active_components_", 3),
        "'n_active_components_' is 3, outside",
    ),
    "strings as loss_curve_": (
        attribute("loss_curve_", ["a", "b"]),
        "'loss_curve_' should be a list of floats",
    ),
    "loss_curve_ of another length": (
        attribute("loss_curve_", [1.0]),
        "'loss_curve_' has 1 items, expected 2",
    ),
    "history_ with unknown keys": (
        attribute("history_", [{"__skvae__": "dict", "items": [["evil", 1.0]]}] * 2),
        "'history_' should hold records",
    ),
    "kl_per_component_ of another shape": (
        attribute(
            "kl_per_component_",
            {"__skvae__": "ndarray", "dtype": "<f8", "shape": [3], "data": [0.0] * 3},
        ),
        "'kl_per_component_' has shape",
    ),
    # tol is relative now, a share of the progress so far: fit refuses more
    # than 1, and so does load (a file from when tol was in nats may say 2)
    "tol above 1": (lambda doc: doc["params"].update(tol=2.0), "tol"),
    "negative tol": (lambda doc: doc["params"].update(tol=-0.1), "tol"),
    "negative min_scale": (likelihood_param("min_scale", -1.0), "min_scale"),
    "nan min_scale": (
        likelihood_param("min_scale", {"__skvae__": "float", "value": "nan"}),
        "min_scale",
    ),
    "string min_scale": (likelihood_param("min_scale", "x"), "min_scale"),
    "likelihood other than the parameters give": (
        attribute(
            "likelihood_",
            {
                "__skvae__": "likelihood",
                "class": "BernoulliLikelihood",
                "params": {"__skvae__": "dict", "items": []},
            },
        ),
        "likelihood_ does not match its parameters",
    ),
}


@pytest.mark.parametrize("case", ATTRIBUTES, ids=str)
def test_states_fit_could_not_produce_are_refused(saved, tmp_path, case):
    change, expected = ATTRIBUTES[case]
    import re

    message = load_error(rewrite(saved, tmp_path / "t", doc=change))
    assert re.search(expected, message), message


def test_mixed_sizes_disagreeing_with_the_table_are_refused(table_saved, tmp_path):
    def change(doc):
        items = doc["attributes"]["likelihood_"]["params"]["items"]
        for item in items:  # a valid MixedLikelihood, one column too wide
            if item[0] in ("sizes", "n_variables"):
                item[1]["items"][0] += 1

    message = load_error(rewrite(table_saved, tmp_path / "t", doc=change))
    assert "likelihood_ does not match its table encoder" in message


def _edit_column(name, **values):
    def change(doc):
        tag = doc["attributes"]["tabular_"]
        state = _decode(tag["state"], "state")
        state["kinds"][state["columns"].index(name)].update(values)
        tag["state"] = _encode(state, "state")

    return change


def test_integer_column_bounds_must_fit_its_dtype(table_saved, tmp_path):
    path = rewrite(table_saved, tmp_path / "t", doc=_edit_column("small", low=-1000.0))
    assert "beyond what its dtype int8 holds" in load_error(path)
    path = rewrite(table_saved, tmp_path / "u", doc=_edit_column("small", high=4.5))
    assert "fractional bounds" in load_error(path)


# -------------------------------------------------------------- optimizer state


def _tensor(name, make):
    def change(tensors):
        tensors[name] = make(tensors[name])

    return change


OPTIMIZER = {
    "negative second moment": (
        _tensor("optimizer.0.exp_avg_sq", lambda t: t - 1.0),
        "negative second moments",
    ),
    "negative step": (
        _tensor("optimizer.0.step", lambda t: -t),
        "whole number of steps",
    ),
    "fractional step": (_tensor("optimizer.0.step", lambda t: t + 0.5), "whole number"),
    "float16 step": (_tensor("optimizer.0.step", lambda t: t.half()), "dtype"),
    "infinite first moment": (
        _tensor("optimizer.1.exp_avg", lambda t: t + float("inf")),
        "non-finite",
    ),
}


@pytest.mark.parametrize("case", OPTIMIZER, ids=str)
def test_optimizer_state_fit_could_not_produce_is_refused(saved, tmp_path, case):
    change, expected = OPTIMIZER[case]
    message = load_error(rewrite(saved, tmp_path / "t", tensors=change))
    assert expected in message, message


# ----------------------------------------------------------- documents, devices


def test_duplicate_json_keys_are_refused(saved, tmp_path):
    def duplicate(text):
        assert '"fitted":true' in text
        return text.replace('"fitted":true', '"fitted":false,"fitted":true', 1)

    assert "duplicate key 'fitted'" in load_error(
        rewrite(saved, tmp_path / "t", text=duplicate)
    )


def test_duplicate_header_keys_are_refused(saved, tmp_path):
    data = saved.read_bytes()
    size = int.from_bytes(data[:8], "little")
    header = data[8 : 8 + size].decode()
    name = next(iter(json.loads(header)))
    entry = json.dumps(json.loads(header)[name], separators=(",", ":"))
    doubled = header.replace(
        "{", "{" + json.dumps(name) + ":" + entry + ",", 1
    ).encode()
    doubled += b" " * (-len(doubled) % 8)
    path = tmp_path / "t"
    path.write_bytes(len(doubled).to_bytes(8, "little") + doubled + data[8 + size :])
    assert "duplicate key" in load_error(path)


def test_meta_device_is_refused(saved):
    with pytest.raises(ValueError, match="meta"):
        skvae.load(saved, device="meta")


def test_long_attacker_strings_are_quoted_briefly(saved, tmp_path):
    evil = "A" * 10_000_000
    for change in (
        lambda doc: doc.update({"class": evil}),
        attribute(evil, 1),
        attribute("n_iter_", evil),
        likelihood_param("min_scale", evil),
    ):
        message = load_error(rewrite(saved, tmp_path / "t", doc=change))
        assert len(message) < 1500, len(message)


# ------------------------------------------------------------------ save paths


def test_save_accepts_str_bytes_and_pathlike(saved, X, tmp_path):
    est = skvae.load(saved)
    for path in (str(tmp_path / "a"), os.fsencode(tmp_path / "b"), tmp_path / "c"):
        est.save(path)
        assert np.array_equal(skvae.load(path).transform(X), est.transform(X))


def test_save_keeps_permissions_and_replaces_a_stale_temporary(saved, tmp_path):
    est = skvae.load(saved)
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"old")
    os.chmod(path, 0o640)
    stale = tmp_path / ".m.safetensors.skvae-tmp"  # as an interrupted save leaves it
    stale.write_bytes(b"half a file")
    est.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["m.safetensors"]
    skvae.load(path)
