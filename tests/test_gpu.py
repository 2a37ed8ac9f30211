"""GPU behaviour; skipped on machines without CUDA."""

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skvae import VAETransformer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:500] / 16.0


def test_auto_device_picks_cuda_and_returns_numpy(X):
    vae = VAETransformer(2, hidden_layer_sizes=(32,), max_iter=3, random_state=0)
    Z = vae.fit(X).transform(X)
    assert vae.device_.type == "cuda"
    assert next(vae.module_.parameters()).is_cuda
    assert isinstance(Z, np.ndarray) and Z.dtype == np.float64
    assert vae.sample(4, random_state=0).shape == (4, 64)
    assert np.isfinite(vae.score_samples(X)).all()


def test_cuda_and_cpu_start_from_the_same_weights(X):
    kwargs = dict(hidden_layer_sizes=(32,), max_iter=1, random_state=0)
    gpu = VAETransformer(2, device="cuda", **kwargs)
    cpu = VAETransformer(2, device="cpu", **kwargs)
    gpu._initialize(64)
    cpu._initialize(64)
    for a, b in zip(gpu.module_.parameters(), cpu.module_.parameters(), strict=True):
        torch.testing.assert_close(a.cpu(), b)


def test_gpu_pickle_loads_on_a_machine_without_cuda(tmp_path, X):
    vae = VAETransformer(2, hidden_layer_sizes=(32,), max_iter=3, random_state=0)
    vae.fit(X)
    path = tmp_path / "vae.pkl"
    path.write_bytes(pickle.dumps(vae))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Z.npy", vae.transform(X))
    script = textwrap.dedent(
        f"""
        import pickle, warnings
        import numpy as np, torch
        assert not torch.cuda.is_available()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vae = pickle.loads(open({str(path)!r}, "rb").read())
        assert any("not available" in str(w.message) for w in caught)
        assert vae.device_.type == "cpu"
        X = np.load({str(tmp_path / "X.npy")!r})
        np.testing.assert_allclose(
            vae.transform(X), np.load({str(tmp_path / "Z.npy")!r}), atol=1e-5
        )
        vae.partial_fit(X)
        """
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", script], env=env, check=True)


def test_data_that_fits_goes_to_the_device_once(monkeypatch, X):
    import skvae._base

    seen = {}
    original = skvae._base.train

    def spy(module, likelihood, optimizer, data, **kwargs):
        seen["device"] = data.X.device
        return original(module, likelihood, optimizer, data, **kwargs)

    monkeypatch.setattr(skvae._base, "train", spy)
    VAETransformer(2, hidden_layer_sizes=(32,), max_iter=2, device="cuda").fit(X)
    assert seen["device"].type == "cuda"


def test_pinned_host_batches_give_the_same_model(monkeypatch, X):
    import skvae._base

    kwargs = dict(hidden_layer_sizes=(32,), max_iter=3, random_state=0, device="cuda")
    on_device = VAETransformer(2, **kwargs).fit(X)
    monkeypatch.setattr(skvae._base, "fits_on_device", lambda *a, **k: False)
    from_host = VAETransformer(2, **kwargs).fit(X)
    for a, b in zip(
        on_device.module_.parameters(), from_host.module_.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b)


def test_bf16_mixed_precision_on_cuda_keeps_the_elbo(X):
    kwargs = dict(hidden_layer_sizes=(64,), max_iter=20, random_state=0, device="cuda")
    full = VAETransformer(4, **kwargs).fit(X)
    mixed = VAETransformer(4, mixed_precision=True, **kwargs).fit(X)
    assert abs(full.score(X) - mixed.score(X)) < 0.5


def _table(n=300, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(seed)
    return pd.DataFrame(
        {
            "x": rng.lognormal(size=n),
            "k": rng.randint(0, 5, n),
            "c": pd.Categorical(rng.choice(["a", "b", "c"], n)),
            "b": rng.rand(n) > 0.5,
        }
    )


@pytest.mark.parametrize("scaling", ["standard", "quantile"])
def test_tables_on_cuda_sample_with_decoder_noise_and_save(tmp_path, scaling):
    import skvae

    df = _table()
    vae = VAETransformer(
        2,
        hidden_layer_sizes=(16,),
        max_iter=3,
        random_state=0,
        device="cuda",
        numeric_scaling=scaling,
    ).fit(df)
    # a table: the latent mixture, fitted on codes computed on the GPU
    assert vae.latent_mixture_["means"].shape[1] <= 2
    draws = vae.sample(50, random_state=0, decoder_noise=True)
    assert list(draws.dtypes) == list(df.dtypes)
    again = vae.sample(50, random_state=0, decoder_noise=True)
    assert draws.equals(again)
    vae.save(tmp_path / "table.safetensors")
    loaded = skvae.load(tmp_path / "table.safetensors")
    assert loaded.sample(50, random_state=0).equals(vae.sample(50, random_state=0))


def test_imputer_on_cuda_draws_multiple_imputations():
    from skvae import VAEImputer

    df = _table()
    df.loc[::4, "x"] = np.nan
    imputer = VAEImputer(2, hidden_layer_sizes=(16,), max_iter=3, device="cuda")
    draws = (
        imputer.set_params(random_state=0)
        .fit(df)
        .sample_imputations(df, n_imputations=3, random_state=0)
    )
    assert len(draws) == 3 and not draws[0].isna().any().any()


def test_full_covariance_likelihood_agrees_on_cuda_and_cpu():
    from skvae import FullCovarianceGaussianLikelihood

    lik = FullCovarianceGaussianLikelihood()
    g = torch.Generator().manual_seed(0)
    loc = torch.randn(8, 5, generator=g, dtype=torch.float64)
    shared = torch.randn(15, generator=g, dtype=torch.float64).expand(8, -1)
    params = torch.cat([loc, shared], dim=1)
    x = torch.randn(8, 5, generator=g, dtype=torch.float64)
    observed = (torch.rand(8, 5, generator=g) > 0.3).double()
    for method in ("masked_log_prob", "conditional_mean"):
        on_cpu = getattr(lik, method)(params, x, observed)
        on_cuda = getattr(lik, method)(params.cuda(), x.cuda(), observed.cuda())
        torch.testing.assert_close(on_cuda.cpu(), on_cpu)
    draw = lik.conditional_sample(
        params.cuda(),
        x.cuda(),
        observed.cuda(),
        torch.Generator("cuda").manual_seed(0),
    )
    assert draw.device.type == "cuda"
    assert torch.equal(draw.cpu()[observed > 0], x[observed > 0])


def test_full_covariance_trains_under_bf16_autocast_on_cuda():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(300, 6))
    X[:, 1] = X[:, 0] + 0.1 * X[:, 1]
    X[rng.rand(*X.shape) < 0.2] = np.nan
    params = dict(hidden_layer_sizes=(32,), max_iter=5, missing="mask")
    params.update(covariance="full", n_importance_train=4, random_state=0)
    vae = VAETransformer(2, device="cuda", mixed_precision=True, **params).fit(X)
    assert all(np.isfinite(record["loss"]) for record in vae.history_)
    assert np.isfinite(vae.score_samples(X)).all()


def test_custom_likelihood_samples_on_cuda_without_touching_the_global_rng():
    from skvae import BernoulliLikelihood
    from skvae._likelihoods import Likelihood

    class Plain(BernoulliLikelihood):
        sample = Likelihood.sample  # the base class's fork_rng path

    params = torch.zeros(4, 6, device="cuda")
    state = torch.cuda.get_rng_state()
    a = Plain().sample(params, torch.Generator("cuda").manual_seed(1))
    b = Plain().sample(params, torch.Generator("cuda").manual_seed(1))
    assert a.is_cuda and torch.equal(a, b)
    assert torch.equal(state, torch.cuda.get_rng_state())


def test_direct_fused_adam_on_cuda_equals_adam_step():
    from skvae._optim import optimizer_step

    def run(step_fn):
        generator = torch.Generator("cuda").manual_seed(0)
        model = torch.nn.Linear(6, 3).cuda()
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, device="cuda"))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, fused=True)
        step = step_fn(optimizer)
        for _ in range(5):
            x = torch.randn(8, 6, generator=generator, device="cuda")
            for p in model.parameters():
                p.grad = None
            model(x).square().sum().backward()
            step()
        return [p.detach().cpu() for p in model.parameters()]

    for a, b in zip(run(optimizer_step), run(lambda o: o.step), strict=True):
        assert torch.equal(a, b)


def test_conv_fitted_on_cuda_saves_and_loads_on_cpu(tmp_path, X):
    """A convolutional model fitted on the GPU (bf16 too) loads on the CPU,
    from the file format and from a pickle in a process without CUDA."""
    import skvae

    vae = VAETransformer(
        2, architecture=skvae.ConvArchitecture(channels=(8, 16)),
        image_shape=(1, 8, 8), likelihood="bernoulli", max_iter=3,
        mixed_precision=True, device="cuda", random_state=0,
    ).fit(X)
    assert next(vae.module_.parameters()).is_cuda
    Z = vae.transform(X)
    vae.save(tmp_path / "conv.safetensors")
    loaded = skvae.load(tmp_path / "conv.safetensors")
    assert loaded.device_.type == "cpu"
    np.testing.assert_allclose(loaded.transform(X), Z, rtol=1e-4, atol=1e-5)
    path = tmp_path / "conv.pkl"
    path.write_bytes(pickle.dumps(vae))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Z.npy", Z)
    script = textwrap.dedent(
        f"""
        import pickle, warnings
        import numpy as np, torch
        assert not torch.cuda.is_available()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vae = pickle.loads(open({str(path)!r}, "rb").read())
        assert vae.device_.type == "cpu"
        X = np.load({str(tmp_path / "X.npy")!r})
        Z = np.load({str(tmp_path / "Z.npy")!r})
        np.testing.assert_allclose(vae.transform(X), Z, rtol=1e-4, atol=1e-5)
        """
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    subprocess.run([sys.executable, "-c", script], check=True, env=env)


def test_conditional_vae_on_cuda_draws_the_asked_classes_and_loads_on_cpu(tmp_path):
    import skvae

    X, y = load_digits(return_X_y=True)
    X = X[:600] / 16.0
    y = y[:600]
    cvae = skvae.ConditionalVAE(
        2, hidden_layer_sizes=(32,), max_iter=3, device="cuda", random_state=0
    ).fit(X, y)
    assert next(cvae.module_.parameters()).is_cuda
    samples = cvae.sample(6, y=3, random_state=0)
    assert samples.shape == (6, 64) and np.isfinite(samples).all()
    np.testing.assert_array_equal(samples, cvae.sample(6, y=3, random_state=0))
    cvae.save(tmp_path / "cvae.safetensors")
    loaded = skvae.load(tmp_path / "cvae.safetensors")
    assert loaded.device_.type == "cpu"
    np.testing.assert_allclose(
        loaded.transform(X), cvae.transform(X), rtol=1e-4, atol=1e-5
    )


def test_to_onnx_of_a_model_fitted_on_cuda_agrees_with_it(X):
    """Export copies the module to the CPU; the graph agrees with the GPU's
    own transform, and the fitted model stays on the GPU."""
    ort = pytest.importorskip("onnxruntime")
    import skvae

    vae = VAETransformer(
        2, hidden_layer_sizes=(32,), max_iter=3, device="cuda", random_state=0
    ).fit(X)
    X32 = X.astype(np.float32)
    model = skvae.to_onnx(vae, X32[:1])
    assert next(vae.module_.parameters()).is_cuda
    session = ort.InferenceSession(model.SerializeToString())
    name = session.get_inputs()[0].name
    (Z,) = session.run(None, {name: X32})
    np.testing.assert_allclose(Z, vae.transform(X32), rtol=1e-4, atol=1e-5)
