"""Files written by earlier skvae releases still load and give the same outputs.

``tests/fixtures/format2/`` holds one file per estimator kind, written in file
format 2 by ``make_fixtures.py`` at commit 470d9bf, with the outputs of that code
in ``expected.npz``. Loading must never need the code that wrote them.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import skvae

HERE = Path(__file__).parent / "fixtures" / "format2"
FILES = sorted(HERE.glob("*.safetensors"))


def _fixture_data():
    spec = importlib.util.spec_from_file_location(
        "make_fixtures", HERE / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    X, frame, holes = module.data()
    unit = (X - X.min()) / (X.max() - X.min())
    return {
        "vae_gaussian": X,
        "vae_bernoulli": unit,
        "vae_full_covariance": X,
        "vae_quantile": X,
        "vae_mixed_frame": frame,
        "vae_masked": holes,
        "autoencoder": X,
        "imputer": holes,
    }


def test_every_kind_has_a_fixture():
    assert {path.stem for path in FILES} == set(_fixture_data()) | {"vae_unfitted"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_format2_file_loads_with_the_same_outputs(path):
    est = skvae.load(path)
    if path.stem == "vae_unfitted":
        assert not hasattr(est, "module_") and est.n_components == 3
        return
    X = _fixture_data()[path.stem]
    expected = np.load(HERE / "expected.npz")
    out = est.transform(X)
    if hasattr(out, "to_numpy"):
        out = out.to_numpy(dtype=float)
    np.testing.assert_allclose(
        out, expected[f"{path.stem}.transform"], rtol=1e-6, atol=1e-7
    )
    key = f"{path.stem}.score_samples"
    if key in expected:
        np.testing.assert_allclose(
            est.score_samples(X), expected[key], rtol=1e-6, atol=1e-6
        )
