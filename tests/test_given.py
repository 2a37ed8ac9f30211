"""VAETransformer.sample(given=...): table rows drawn given some columns."""

import copy
import warnings

import numpy as np
import pytest
import torch

from skvae import VAETransformer

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def table():
    rng = np.random.RandomState(0)
    n = 600
    kind = rng.choice(["a", "b", "c"], n, p=[0.6, 0.3, 0.1])
    x = np.where(kind == "a", 0.0, np.where(kind == "b", 3.0, -4.0))
    frame = pd.DataFrame(
        {
            "x": x + 0.3 * rng.normal(size=n),
            "kind": pd.Categorical(kind),
            "flag": rng.rand(n) > 0.5,
            "count": rng.randint(0, 5, n),
        }
    )
    # rows with x hidden teach the encoder q(z | kind, flag, count) as well
    training = pd.concat([frame, frame.assign(x=np.nan)], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vae = VAETransformer(
            4,
            hidden_layer_sizes=(32,),
            max_iter=40,
            learning_rate_init=3e-3,
            missing="mask",
            numeric_scaling="standard",  # a bimodal column this tiny model fits
            device="cpu",
            random_state=0,
        ).fit(training)
    return frame, vae


def test_rows_honour_the_condition_exactly(table):
    frame, vae = table
    out = vae.sample(
        200, given={"kind": "c", "count": 3}, random_state=0, decoder_noise=True
    )
    assert len(out) == 200
    assert (out["kind"] == "c").all() and (out["count"] == 3).all()
    assert out.dtypes.to_dict() == frame.dtypes.to_dict()
    # the free column follows the condition: x near -4 for kind c, 3 for b
    assert out["x"].mean() < -1.0
    b = vae.sample(200, given={"kind": "b"}, random_state=0, decoder_noise=True)
    assert b["x"].mean() > 1.0
    given_x = vae.sample(100, given={"x": 3.0}, random_state=0, decoder_noise=False)
    assert (given_x["x"] == 3.0).all()
    assert (given_x["kind"] == "b").mean() > 0.6  # a tiny, briefly trained model


def test_reproducible_and_arrays(table):
    _, vae = table
    a = vae.sample(5, given={"kind": "a"}, random_state=1, decoder_noise=True)
    b = vae.sample(5, given={"kind": "a"}, random_state=1, decoder_noise=True)
    pd.testing.assert_frame_equal(a, b)
    X = np.random.RandomState(0).normal(size=(80, 3))
    X[::4, 1] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        arr = VAETransformer(
            2,
            hidden_layer_sizes=(8,),
            max_iter=2,
            missing="mask",
            device="cpu",
            random_state=0,
        ).fit(X)
    out = arr.sample(4, given={0: 1.25, 2: -0.5}, random_state=0)
    assert out.shape == (4, 3)
    assert (out[:, 0] == 1.25).all() and (out[:, 2] == -0.5).all()


def test_bad_given_is_refused_by_name(table):
    _, vae = table
    with pytest.raises(ValueError, match="'zz' is not a category of 'kind'"):
        vae.sample(2, given={"kind": "zz"})
    with pytest.raises(ValueError, match="column 'nope'"):
        vae.sample(2, given={"nope": 1})
    with pytest.raises(TypeError, match="non-empty dict"):
        vae.sample(2, given={})
    with pytest.raises(TypeError, match="non-empty dict"):
        vae.sample(2, given=[("kind", "a")])
    with pytest.raises(ValueError, match="numeric column"):
        vae.sample(2, given={"x": "high"})
    with pytest.raises(ValueError, match="boolean column"):
        vae.sample(2, given={"flag": 2})
    with pytest.raises(ValueError, match="is missing"):
        vae.sample(2, given={"x": np.nan})
    with pytest.raises(ValueError, match="X or given"):
        vae.sample(2, X=None or np.zeros((1, 4)), given={"x": 1.0})
    plain = VAETransformer(
        2, hidden_layer_sizes=(4,), max_iter=1, device="cpu", random_state=0
    ).fit(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="missing='mask'"):
        plain.sample(2, given={0: 1.0})


class _Shifted(torch.nn.Module):
    """An encoder whose q(z | x) sits far from the prior, whatever x."""

    def __init__(self, encoder, shift):
        super().__init__()
        self.encoder, self.shift = encoder, shift

    def forward(self, x):
        out = self.encoder(x)
        d = out.shape[-1] // 2
        return torch.cat([out[..., :d] + self.shift, out[..., d:]], dim=-1)


def test_prior_in_the_proposal_rescues_a_poor_encoder(table, monkeypatch):
    # q(z | given) can be poor where fit never showed rows with only the
    # given columns observed; the prior mixed into the proposal keeps the
    # draws where the decoder explains them, with exact weights
    frame, vae = table
    broken = copy.deepcopy(vae)
    broken.module_.encoder = _Shifted(broken.module_.encoder, 6.0)
    good = vae.sample(300, given={"kind": "c"}, random_state=0, decoder_noise=True)
    out = broken.sample(300, given={"kind": "c"}, random_state=0, decoder_noise=True)
    assert abs(out["x"].mean() - good["x"].mean()) < 1.0
    assert out["x"].mean() < -1.0
    monkeypatch.setattr("skvae._given._GIVEN_PRIOR_MIX", 0.0)
    q_only = broken.sample(300, given={"kind": "c"}, random_state=0, decoder_noise=True)
    assert abs(q_only["x"].mean() - good["x"].mean()) > 1.0
