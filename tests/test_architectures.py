"""Network architectures: the convolutional one and user-supplied modules."""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from torch import nn

import skvae
from skvae import ConvArchitecture, CustomArchitecture, VAETransformer
from skvae._architectures import reset_parameters


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


@pytest.fixture(scope="module")
def digits():
    X, _ = load_digits(return_X_y=True)
    return (X[:120] / 16).astype(np.float64)


def conv(**kw):
    params = dict(
        architecture=ConvArchitecture(channels=(4, 8)),
        image_shape=(1, 8, 8),
        max_iter=2,
        random_state=0,
        device="cpu",
    )
    return VAETransformer(3, **{**params, **kw})


class Encoder(nn.Module):
    """Meets the contract; an nn.Sequential inside, so no permutation."""

    def __init__(self, n_features, n_components, width=8):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features, width),
            nn.LayerNorm(width),
            nn.ReLU(),
            nn.Linear(width, 2 * n_components),
        )

    def forward(self, x):
        return self.net(x)


def sequential_encoder(n_features, n_components, width=8):
    return nn.Sequential(
        nn.Linear(n_features, width), nn.ReLU(), nn.Linear(width, 2 * n_components)
    )


def decoder(n_components, n_outputs, width=8):
    return nn.Sequential(
        nn.Linear(n_components, width), nn.ReLU(), nn.Linear(width, n_outputs)
    )


class WrongEncoder(nn.Module):
    """Breaks the contract: returns n_components columns, not twice as many."""

    def __init__(self, n_features, n_components):
        super().__init__()
        self.linear = nn.Linear(n_features, n_components)

    def forward(self, x):
        return self.linear(x)


def custom(encoder=Encoder, **kw):
    arch = CustomArchitecture(encoder, decoder, encoder_kwargs={"width": 8})
    params = dict(architecture=arch, max_iter=2, random_state=0, device="cpu")
    return VAETransformer(3, **{**params, **kw})


# ------------------------------------------------------------------- conv


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_conv_every_method(digits, likelihood):
    vae = conv(likelihood=likelihood).fit(digits)
    assert isinstance(vae.module_.encoder[1], nn.Conv2d)
    Z = vae.transform(digits[:5])
    assert Z.shape == (5, 3)
    assert vae.inverse_transform(Z).shape == (5, 64)
    assert vae.sample(4, random_state=0).shape == (4, 64)
    assert vae.sample(2, X=digits[:3], random_state=0).shape == (6, 64)
    assert vae.interpolate(digits[:2], digits[2:4], n_steps=5).shape == (2, 5, 64)
    assert np.isfinite(vae.score(digits[:10], n_importance=20))
    kl = vae.kl_per_component_
    assert np.all(np.diff(kl) <= 0)  # ordered by KL: the conv model permutes
    mean, std = vae.encode(digits[:4])
    assert mean.shape == std.shape == (4, 3)


def test_conv_full_covariance_and_partial_fit(digits):
    vae = conv(covariance="full").fit(digits)
    assert type(vae.likelihood_).__name__ == "FullCovarianceGaussianLikelihood"
    vae.partial_fit(digits)
    assert vae.n_iter_ == 3


def test_conv_string_and_odd_sizes():
    X = np.random.RandomState(0).rand(6, 3 * 7 * 9)
    vae = VAETransformer(
        2,
        architecture="conv",
        image_shape=(3, 7, 9),
        max_iter=1,
        random_state=0,
        device="cpu",
    ).fit(X)
    assert vae.module_.decode(torch.zeros(1, 2)).shape[-1] == vae.likelihood_.n_params(
        189
    )
    assert vae.inverse_transform(np.zeros((2, 2))).shape == (2, 189)
    assert vae.get_params()["architecture"] == "conv"


def test_conv_is_reproducible(digits):
    a, b = conv().fit(digits), conv().fit(digits)
    np.testing.assert_array_equal(a.transform(digits), b.transform(digits))


def test_permutation_keeps_the_conv_model(digits):
    vae = conv().fit(digits)
    x = torch.as_tensor(digits[:5], dtype=torch.float32)
    loc, _ = vae.module_.encode(x)
    decoded = vae.module_.decode(loc)
    vae.module_.permute_components([2, 0, 1])
    loc2, _ = vae.module_.encode(x)
    torch.testing.assert_close(loc2, loc[:, [2, 0, 1]])
    torch.testing.assert_close(vae.module_.decode(loc2), decoded)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"image_shape": None}, "needs image_shape"),
        ({"image_shape": (1, 8, 9)}, "72 values, but X has 64"),
        ({"image_shape": (1, 8)}, "channels, height, width"),
        ({"architecture": ConvArchitecture(channels=(4, 4, 4, 4, 4))}, "too small"),
        ({"architecture": ConvArchitecture(kernel_size=2)}, "kernel_size"),
        ({"architecture": ConvArchitecture(channels=())}, "channels"),
    ],
)
def test_conv_refuses_bad_shapes(digits, kw, match):
    vae = conv(**kw)
    with pytest.raises(ValueError, match=match):
        vae.fit(digits)
    assert not hasattr(vae, "module_") and not hasattr(vae, "n_features_in_")


def test_conv_refuses_tables():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [0.1, 0.2, 0.3, 0.4], "b": ["x", "y", "x", "y"]})
    with pytest.raises(ValueError, match="tables"):
        VAETransformer(architecture="conv", image_shape=(1, 1, 3), max_iter=1).fit(df)


def test_conv_clone_set_params_and_grid_search(digits):
    vae = conv()
    assert clone(vae).get_params()["architecture"] == vae.architecture
    assert clone(vae).architecture is not vae.architecture
    vae.set_params(architecture__channels=(2, 4))
    assert vae.architecture.channels == (2, 4)
    grid = GridSearchCV(
        conv(max_iter=1), {"architecture__channels": [(2,), (4, 8)]}, cv=2
    ).fit(digits)
    assert grid.best_params_["architecture__channels"] in [(2,), (4, 8)]


def test_conv_pickle_and_save_load(digits, tmp_path):
    vae = conv().fit(digits)
    again = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(again.transform(digits), vae.transform(digits))
    path = tmp_path / "conv.safetensors"
    vae.save(path)
    loaded = skvae.load(path)
    assert loaded.get_params() == vae.get_params()
    np.testing.assert_array_equal(loaded.transform(digits), vae.transform(digits))
    loaded.partial_fit(digits)
    vae.partial_fit(digits)
    np.testing.assert_array_equal(loaded.transform(digits), vae.transform(digits))


def test_conv_save_refuses_changed_params(digits, tmp_path):
    vae = conv().fit(digits).set_params(architecture__channels=(2, 2))
    with pytest.raises(ValueError, match="no longer describe"):
        vae.save(tmp_path / "x.safetensors")


def test_conv_early_stopping_and_bf16(digits):
    vae = conv(early_stopping=True, mixed_precision=True, max_iter=3).fit(digits)
    assert vae.best_validation_score_ is not None


def test_mlp_spec_unchanged():
    module = skvae.VAEModule(8, 2, 8, hidden_layer_sizes=(4,))
    assert set(module.spec) == {
        "n_features",
        "n_components",
        "n_outputs",
        "hidden_layer_sizes",
        "activation",
        "n_shared",
    }


def test_conv_weights_come_from_the_generator():
    before = torch.random.get_rng_state()
    enc, dec = ConvArchitecture(channels=(2,)).build(16, 2, 16, (1, 4, 4))
    reset_parameters(enc, torch.Generator().manual_seed(0))
    w = enc[1].weight.clone()
    torch.random.set_rng_state(before)  # build used the global RNG: reset ours
    state = torch.random.get_rng_state()
    reset_parameters(enc, torch.Generator().manual_seed(0))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(enc[1].weight, w)


# ------------------------------------------------------------ user modules


def test_custom_module_that_meets_the_contract(digits):
    vae = custom().fit(digits)
    assert isinstance(vae.module_.encoder, Encoder)
    assert vae.transform(digits[:4]).shape == (4, 3)
    assert vae.sample(3, random_state=0).shape == (3, 64)
    assert vae.interpolate(digits[:1], digits[1:2], n_steps=3).shape == (1, 3, 64)
    assert np.isfinite(vae.score(digits[:5], n_importance=5))
    # not an nn.Sequential with linear ends: the latent order is kept
    assert not vae.module_.can_permute
    again = custom().fit(digits)
    np.testing.assert_array_equal(again.transform(digits), vae.transform(digits))


def test_custom_sequential_modules_are_ordered_by_kl(digits):
    vae = custom(sequential_encoder).fit(digits)
    assert vae.module_.can_permute
    assert np.all(np.diff(vae.kl_per_component_) <= 0)


def test_custom_module_that_breaks_the_contract(digits):
    vae = custom().fit(digits)
    weights = {k: v.clone() for k, v in vae.module_.state_dict().items()}
    before = dict(vars(vae))
    vae.set_params(architecture=CustomArchitecture(WrongEncoder, decoder))
    with pytest.raises(
        ValueError,
        match=r"encoder maps a batch of shape \(2, 64\) to \(2, 3\), expected \(2, 6\)",
    ):
        vae.fit(digits)
    assert vars(vae).keys() == before.keys()
    for k, v in vae.module_.state_dict().items():
        assert torch.equal(v, weights[k])
    fresh = VAETransformer(architecture=CustomArchitecture(WrongEncoder, decoder))
    with pytest.raises(ValueError, match="expected"):
        fresh.fit(digits)
    assert not hasattr(fresh, "module_")


def test_custom_module_with_a_bad_keyword(digits):
    arch = CustomArchitecture(Encoder, decoder, encoder_kwargs={"depth": 3})
    with pytest.raises(ValueError, match="building the encoder"):
        VAETransformer(architecture=arch, max_iter=1).fit(digits)


def test_custom_routing_clone_and_grid_search(digits):
    vae = custom()
    vae.set_params(architecture__encoder__width=4, architecture__decoder__width=6)
    assert vae.architecture.encoder_kwargs == {"width": 4}
    assert vae.architecture.decoder_kwargs == {"width": 6}
    assert vae.get_params()["architecture__encoder__width"] == 4
    copy = clone(vae)
    assert copy.architecture == vae.architecture
    assert copy.architecture is not vae.architecture
    grid = GridSearchCV(
        custom(max_iter=1), {"architecture__encoder__width": [4, 8]}, cv=2
    ).fit(digits)
    assert grid.best_params_["architecture__encoder__width"] in (4, 8)
    assert grid.best_estimator_.module_.encoder.net[0].out_features in (4, 8)


def test_custom_pickle(digits):
    vae = custom().fit(digits)
    again = pickle.loads(pickle.dumps(vae))
    np.testing.assert_array_equal(again.transform(digits), vae.transform(digits))


def test_custom_load_needs_the_classes(digits, tmp_path):
    vae = custom().fit(digits)
    path = tmp_path / "custom.safetensors"
    vae.save(path)
    with pytest.raises(ValueError, match="not passed to load"):
        skvae.load(path)
    with pytest.raises(ValueError, match="not passed to load"):
        skvae.load(path, modules=[Encoder])  # the decoder is missing
    with pytest.raises(ValueError, match="not passed to load"):
        skvae.load(path, modules=[WrongEncoder, decoder])
    loaded = skvae.load(path, modules=[Encoder, decoder])
    assert loaded.get_params() == vae.get_params()
    np.testing.assert_array_equal(loaded.transform(digits), vae.transform(digits))
    with pytest.raises(TypeError, match="modules"):
        skvae.load(path, modules=["tests.test_architectures.Encoder"])


def test_custom_save_needs_plain_kwargs_and_named_classes(digits, tmp_path):
    vae = custom().fit(digits)
    vae.architecture.encoder_kwargs = {"width": np.int64(8)}
    with pytest.raises(TypeError, match="plain data"):
        vae.save(tmp_path / "x.safetensors")

    def local_decoder(n_components, n_outputs):
        return nn.Linear(n_components, n_outputs)

    arch = CustomArchitecture(sequential_encoder, local_decoder)
    local = VAETransformer(architecture=arch, max_iter=1, device="cpu").fit(digits)
    with pytest.raises(TypeError, match="qualified name"):
        local.save(tmp_path / "y.safetensors")


def test_autoencoder_takes_the_conv_architecture(digits, tmp_path):
    ae = skvae.AutoencoderTransformer(
        3,
        architecture=ConvArchitecture(channels=(4,)),
        image_shape=(1, 8, 8),
        max_iter=2,
        random_state=0,
        device="cpu",
    ).fit(digits)
    assert ae.inverse_transform(ae.transform(digits[:3])).shape == (3, 64)
    ae.save(tmp_path / "ae.safetensors")
    loaded = skvae.load(tmp_path / "ae.safetensors")
    np.testing.assert_array_equal(loaded.transform(digits), ae.transform(digits))


def test_conv_step_macs_count_the_convolutions():
    from skvae._threads import step_macs

    conv = skvae.VAEModule(
        64, 2, 64, architecture=ConvArchitecture(channels=(4,)), image_shape=(1, 8, 8)
    )
    linear_only = sum(
        m.in_features * m.out_features
        for m in conv.modules()
        if isinstance(m, nn.Linear)
    )
    # 4x4 outputs of a 4x1x4x4 kernel, and the transposed layer reading 4x4
    assert step_macs(conv, 1) == linear_only + 2 * 16 * 64
