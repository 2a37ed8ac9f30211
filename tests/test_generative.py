"""The generative side of VAETransformer: sampling, encoding, interpolation,
importance-weighted likelihood bounds and the order of the latent dimensions."""

import copy

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError

import skvae._density
from skvae import VAETransformer
from skvae._interpolation import _linear_path, _spherical_path
from skvae._objectives import elbo_terms, log_importance_weights
from skvae._utils import row_normal_noise


@pytest.fixture(scope="module")
def digits():
    return load_digits().data[:400] / 16


@pytest.fixture(scope="module")
def vae(digits):
    return VAETransformer(
        4,
        hidden_layer_sizes=(32,),
        likelihood="bernoulli",
        learning_rate_init=3e-3,
        # 30 epochs, not 15: from the data-aware start (decoder at the pixels'
        # mean logits) the model at 15 epochs has a better ELBO but still
        # barely uses its latents (KL 0.1 nats), which leaves the
        # importance-weighted bounds' rise with k inside their noise.
        max_iter=30,
        random_state=0,
        device="cpu",
    ).fit(digits)


# ------------------------------------------------------------------ sample


def test_sample_from_prior(vae):
    X_new = vae.sample(5, random_state=0)
    assert X_new.shape == (5, 64) and X_new.dtype == np.float64
    np.testing.assert_array_equal(X_new, vae.sample(5, random_state=0))
    assert not np.allclose(X_new, vae.sample(5, random_state=1))


def test_sample_around_rows(vae, digits):
    X = digits[:3].astype(np.float32)
    X_new = vae.sample(4, X=X, random_state=0)
    assert X_new.shape == (12, 64) and X_new.dtype == np.float32
    np.testing.assert_array_equal(X_new, vae.sample(4, X=X, random_state=0))
    assert not np.allclose(X_new, vae.sample(4, X=X, random_state=1))
    # The draws of one source row come together: the same draws, one per
    # repeated row, give the same rows in the same order.
    np.testing.assert_allclose(
        X_new, vae.sample(1, X=np.repeat(X, 4, axis=0), random_state=0), rtol=1e-6
    )


# ------------------------------------------------------------------ encode


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_encode(vae, digits, dtype):
    X = digits[:7].astype(dtype)
    mean, std = vae.encode(X)
    assert mean.shape == std.shape == (7, 4)
    assert mean.dtype == std.dtype == dtype
    np.testing.assert_array_equal(mean, vae.transform(X))
    assert np.all(std > 0)
    with torch.no_grad():
        loc, log_scale = vae.module_.encode(torch.as_tensor(X, dtype=torch.float32))
    np.testing.assert_allclose(std, np.exp(log_scale.numpy()), rtol=1e-5)


# ------------------------------------------------------------- interpolate


@pytest.mark.parametrize("method", ["linear", "spherical"])
def test_interpolate_endpoints(vae, digits, method):
    start, end = digits[:3], digits[10:13]
    paths = vae.interpolate(start, end, n_steps=6, method=method)
    assert paths.shape == (3, 6, 64) and paths.dtype == np.float64
    np.testing.assert_allclose(
        paths[:, 0], vae.inverse_transform(vae.transform(start)), atol=1e-12
    )
    np.testing.assert_allclose(
        paths[:, -1], vae.inverse_transform(vae.transform(end)), atol=1e-12
    )
    assert vae.interpolate(start.astype(np.float32), end, 3).dtype == np.float64
    float32 = start.astype(np.float32), end.astype(np.float32)
    assert vae.interpolate(*float32, 3).dtype == np.float32


def test_interpolate_linear_midpoint(vae, digits):
    start, end = digits[:3], digits[10:13]
    paths = vae.interpolate(start, end, n_steps=3)
    middle = (vae.transform(start) + vae.transform(end)) / 2
    np.testing.assert_allclose(paths[:, 1], vae.inverse_transform(middle), atol=1e-12)


def test_interpolate_spherical_decodes_the_slerp_path(vae, digits):
    start, end = digits[:3], digits[10:13]
    z0, z1 = vae.transform(start), vae.transform(end)
    t = np.linspace(0, 1, 5)[:, None]
    path = _spherical_path(z0[:, None], z1[:, None], t)
    expected = vae.inverse_transform(path.reshape(-1, 4)).reshape(3, 5, 64)
    paths = vae.interpolate(start, end, n_steps=5, method="spherical")
    np.testing.assert_allclose(paths, expected, atol=1e-12)
    assert not np.allclose(paths, vae.interpolate(start, end, n_steps=5))


def test_spherical_path_geometry():
    rng = np.random.RandomState(0)
    a, b = rng.randn(4, 1, 3), 3 * rng.randn(4, 1, 3)
    t = np.linspace(0, 1, 9)[:, None]
    path = _spherical_path(a, b, t)
    np.testing.assert_allclose(path[:, 0], a[:, 0])
    np.testing.assert_allclose(path[:, -1], b[:, 0])
    # The norm moves linearly, the angle to the start at a constant speed,
    # and the path stays in the plane of the two end points.
    norm_a, norm_b = np.linalg.norm(a, axis=-1), np.linalg.norm(b, axis=-1)
    norms = np.linalg.norm(path, axis=-1)
    np.testing.assert_allclose(norms, (1 - t.T) * norm_a + t.T * norm_b)
    cosines = (path * a).sum(-1) / (norms * norm_a)
    angles = np.arccos(np.clip(cosines, -1, 1))
    np.testing.assert_allclose(angles, t.T * angles[:, -1:], atol=1e-7)
    normal = np.cross(a, b)
    np.testing.assert_allclose((path * normal).sum(-1), 0, atol=1e-10)


def test_spherical_path_degenerate_cases_fall_back_to_linear():
    t = np.linspace(0, 1, 5)[:, None]
    a = np.array([[[1.0, 2.0]], [[0.0, 0.0]], [[1.0, 1.0]]])
    b = np.array([[[2.0, 4.0]], [[3.0, 1.0]], [[-2.0, -2.0]]])
    path = _spherical_path(a, b, t)
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(path, _linear_path(a, b, t))


# ------------------------------------------------- importance-weighted bound


def test_n_importance_1_is_the_elbo(vae, digits):
    np.testing.assert_array_equal(
        vae.score_samples(digits[:50], n_importance=1), vae.score_samples(digits[:50])
    )
    assert vae.score(digits[:50], n_importance=1) == vae.score(digits[:50])


def test_log_importance_weights_match_torch_distributions(vae, digits):
    module, likelihood = vae.module_, vae.likelihood_
    x = torch.as_tensor(digits[:5], dtype=torch.float32)
    eps = torch.randn(5, 7, 4, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        log_w = log_importance_weights(module, likelihood, x, eps)
        loc, log_scale = module.encode(x)
        z = loc[:, None] + log_scale.exp()[:, None] * eps
        q = torch.distributions.Normal(loc[:, None], log_scale.exp()[:, None])
        prior = torch.distributions.Normal(0.0, 1.0)
        log_px = likelihood.distribution(module.decode(z)).log_prob(x[:, None])
        expected = log_px + prior.log_prob(z).sum(-1) - q.log_prob(z).sum(-1)
    assert log_w.shape == (5, 7)
    torch.testing.assert_close(log_w, expected)
    # One draw is an unbiased estimate of the ELBO of the same draw with an
    # exact KL: their difference, log p(z) - log q(z | x) + KL, averages to 0.
    eps = torch.randn(5, 4000, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        log_w = log_importance_weights(module, likelihood, x, eps).double()
        elbo = torch.stack(
            [
                -sum(elbo_terms(module, likelihood, x, eps=eps[:, j]))
                for j in range(4000)
            ],
            dim=1,
        ).double()
    difference = log_w - elbo
    bound = 5 * difference.std(dim=1) / np.sqrt(4000)
    assert torch.all(difference.mean(dim=1).abs() < bound)


def test_iwae_bound_rises_with_k(vae, digits):
    X = digits[:200]
    scores = [vae.score(X, n_importance=k) for k in (1, 10, 100)]
    assert scores[0] < scores[1] < scores[2]
    bounds = vae.score_samples(X, n_importance=10)
    assert bounds.shape == (200,) and bounds.dtype == np.float64


def test_iwae_deterministic_and_batch_invariant(vae, digits):
    X = digits[:20]
    bounds = vae.score_samples(X, n_importance=30)
    np.testing.assert_array_equal(bounds, vae.score_samples(X, n_importance=30))
    perm = np.random.RandomState(0).permutation(20)
    np.testing.assert_allclose(
        vae.score_samples(X[perm], n_importance=30), bounds[perm], rtol=0, atol=1e-9
    )
    single = [vae.score_samples(X[i : i + 1], n_importance=30)[0] for i in range(3)]
    np.testing.assert_allclose(single, bounds[:3], rtol=0, atol=1e-9)
    float32 = vae.score_samples(X.astype(np.float32), n_importance=30)
    assert float32.dtype == np.float32
    np.testing.assert_allclose(float32, bounds, rtol=1e-4)


def test_iwae_chunking_does_not_change_the_result(vae, digits, monkeypatch):
    X = digits[:5]
    bounds = vae.score_samples(X, n_importance=50)
    # 64 activations per layer per pass: one draw at a time.
    monkeypatch.setattr(skvae._density, "_IWAE_VALUES", 64)
    np.testing.assert_allclose(
        vae.score_samples(X, n_importance=50), bounds, rtol=0, atol=1e-10
    )
    # 640 per pass: 10 draws of one row at a time, with a shorter last chunk.
    monkeypatch.setattr(skvae._density, "_IWAE_VALUES", 640)
    np.testing.assert_allclose(
        vae.score_samples(X, n_importance=47), vae.score_samples(X, n_importance=47)
    )


def test_iwae_k5000_is_memory_bounded(vae, digits, monkeypatch):
    monkeypatch.setattr(skvae._density, "_IWAE_VALUES", 64 * 1000)
    sizes = []
    # float32 rows run through module_ itself (float64 ones through a copy).
    hook = vae.module_.decoder.register_forward_hook(
        lambda module, args, out: sizes.append(args[0].shape[0])
    )
    try:
        bounds = vae.score_samples(digits[:3].astype(np.float32), n_importance=5000)
    finally:
        hook.remove()
    assert bounds.shape == (3,) and np.all(np.isfinite(bounds))
    # Never more than 1000 draws (1000 x 64 activations) decoded at once.
    assert max(sizes) == 1000 and sum(sizes) == 3 * 5000
    bounds64 = vae.score_samples(digits[:3], n_importance=5000)
    np.testing.assert_allclose(bounds64, bounds, rtol=1e-4)
    assert np.all(bounds64 > vae.score_samples(digits[:3]) - 1.0)


def test_row_normal_noise_offset_continues_the_stream():
    X = np.random.RandomState(0).rand(3, 5)
    whole = row_normal_noise(X, (10, 2))
    parts = [row_normal_noise(X, (c, 2), offset=2 * j) for j, c in [(0, 4), (4, 6)]]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    np.testing.assert_array_equal(row_normal_noise(X, (2,)), whole[:, 0])


# ---------------------------------------------------- order of the latents


def _kl_per_dimension(est, X):
    mean, std = est.encode(X)
    return (0.5 * (mean**2 + std**2 - 1) - np.log(std)).mean(axis=0)


def test_kl_per_component_is_ordered(vae, digits):
    kl = vae.kl_per_component_
    assert kl.shape == (4,) and np.all(np.diff(kl) <= 0)
    # The attribute describes the columns of transform, in their order.
    np.testing.assert_allclose(_kl_per_dimension(vae, digits), kl, rtol=1e-4)
    assert vae.n_active_components_ == np.sum(kl > 0.01)


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_ordering_holds_after_continued_training(digits, how):
    est = VAETransformer(
        4, hidden_layer_sizes=(16,), max_iter=3, random_state=0, device="cpu"
    )
    if how == "partial_fit":
        for _ in range(3):
            est.partial_fit(digits)
    else:
        est.set_params(warm_start=True).fit(digits).fit(digits)
    assert np.all(np.diff(est.kl_per_component_) <= 0)
    np.testing.assert_allclose(
        _kl_per_dimension(est, digits), est.kl_per_component_, rtol=1e-4
    )


def test_permute_components_keeps_the_model(vae, digits):
    est = copy.deepcopy(vae)
    order = [2, 0, 3, 1]
    est.module_.permute_components(order, est.optimizer_)
    Z = vae.transform(digits[:10])
    np.testing.assert_allclose(est.transform(digits[:10]), Z[:, order], atol=1e-6)
    np.testing.assert_allclose(
        est.inverse_transform(Z[:, order]), vae.inverse_transform(Z), atol=1e-6
    )
    with pytest.raises(ValueError, match="permutation"):
        est.module_.permute_components([0, 0, 1, 2])


def test_permute_components_permutes_adam_state(vae, digits):
    """One Adam step after a permutation equals the permuted step."""
    a = copy.deepcopy(vae.module_)
    opt_a = torch.optim.Adam(a.parameters(), lr=1e-2)
    x = torch.as_tensor(digits[:64], dtype=torch.float32)
    eps = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))

    def step(module, opt, e):
        recon, kl = elbo_terms(module, vae.likelihood_, x, eps=e)
        opt.zero_grad()
        (recon + kl).mean().backward()
        opt.step()

    step(a, opt_a, eps)  # fills Adam's moment estimates
    b = copy.deepcopy(a)
    opt_b = torch.optim.Adam(b.parameters(), lr=1e-2)
    opt_b.load_state_dict(copy.deepcopy(opt_a.state_dict()))
    order = torch.tensor([3, 1, 0, 2])
    b.permute_components(order, opt_b)
    step(a, opt_a, eps)
    step(b, opt_b, eps[:, order])
    a.permute_components(order)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


def test_n_active_components_on_low_dimensional_data():
    rng = np.random.RandomState(0)
    X = rng.randn(500, 2) @ rng.randn(2, 10) + 0.2 * rng.randn(500, 10)
    est = VAETransformer(
        5,
        hidden_layer_sizes=(16,),
        activation="identity",
        learning_rate_init=1e-2,
        batch_size=100,
        max_iter=300,
        tol=0,
        random_state=0,
        device="cpu",
    ).fit(X)
    assert est.n_active_components_ == 2
    assert np.all(est.kl_per_component_[:2] > 1)


# -------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda est, X: est.sample(0), "n_samples"),
        (lambda est, X: est.sample(2.5), "n_samples"),
        (lambda est, X: est.sample(2, X=X[:, :10]), "features"),
        (lambda est, X: est.encode(X[:, :10]), "features"),
        (lambda est, X: est.encode(X[0]), "2D"),
        (lambda est, X: est.interpolate(X[:2], X[:3]), "same number of rows"),
        (lambda est, X: est.interpolate(X[:2], X[:2], n_steps=1), "n_steps"),
        (lambda est, X: est.interpolate(X[:2], X[:2], n_steps=3.0), "n_steps"),
        (lambda est, X: est.interpolate(X[:2], X[:2], method="cubic"), "method"),
        (lambda est, X: est.interpolate(X[:2], X[:2, :10]), "features"),
        (lambda est, X: est.score_samples(X, n_importance=0), "n_importance"),
        (lambda est, X: est.score_samples(X, n_importance=True), "n_importance"),
        (lambda est, X: est.score(X, n_importance=-3), "n_importance"),
    ],
)
def test_bad_inputs(vae, digits, call, match):
    with pytest.raises(ValueError, match=match):
        call(vae, digits[:5])


@pytest.mark.parametrize(
    "call",
    [
        lambda est, X: est.sample(2, X=X),
        lambda est, X: est.encode(X),
        lambda est, X: est.interpolate(X, X),
        lambda est, X: est.score_samples(X, n_importance=5),
    ],
)
def test_not_fitted(digits, call):
    with pytest.raises(NotFittedError):
        call(VAETransformer(), digits[:5])


# ------------------------------------------------------- decoder noise


def test_sample_with_decoder_noise_draws_from_the_likelihood(vae, digits):
    means = vae.sample(50, random_state=0)
    draws = vae.sample(50, random_state=0, decoder_noise=True)
    assert set(np.unique(draws)) <= {0.0, 1.0}  # Bernoulli draws
    np.testing.assert_array_equal(
        draws, vae.sample(50, random_state=0, decoder_noise=True)
    )
    # each pixel is drawn with the probability the decoder gives it
    assert abs(draws.mean() - means.mean()) < 0.02
    variations = vae.sample(3, X=digits[:4], random_state=0, decoder_noise=True)
    assert variations.shape == (12, 64) and set(np.unique(variations)) <= {0.0, 1.0}


def test_sample_with_decoder_noise_gaussian_spread_and_global_rng(digits):
    vae = VAETransformer(
        2, hidden_layer_sizes=(32,), max_iter=5, random_state=0, device="cpu"
    ).fit(digits)
    state = torch.get_rng_state()
    means = vae.sample(2000, random_state=1)
    draws = vae.sample(2000, random_state=1, decoder_noise=True)
    assert torch.equal(state, torch.get_rng_state())
    scale = torch.nn.functional.softplus(vae.module_.shared.detach()).numpy() + 1e-3
    np.testing.assert_allclose((draws - means).std(axis=0), scale, rtol=0.1)
    with pytest.raises(TypeError, match="decoder_noise"):
        vae.sample(2, decoder_noise=1)


def test_custom_likelihood_without_sample_draws_reproducibly_from_its_distribution():
    from skvae import BernoulliLikelihood
    from skvae._likelihoods import Likelihood

    class Plain(BernoulliLikelihood):
        sample = Likelihood.sample  # the base class's fallback

    params = torch.linspace(-3, 3, 600).reshape(100, 6)
    state = torch.get_rng_state()
    a = Plain().sample(params, torch.Generator().manual_seed(1))
    b = Plain().sample(params, torch.Generator().manual_seed(1))
    c = Plain().sample(params, torch.Generator().manual_seed(2))
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and a.dtype == params.dtype


# ------------------------------------------------- importance-weighted training


def test_importance_weighted_terms_are_the_bound_split_in_two(vae, digits):
    from skvae._objectives import importance_weighted_terms

    module, likelihood = vae.module_, vae.likelihood_
    x = torch.as_tensor(digits[:16], dtype=torch.float32)
    for weight in (1.0, 0.3):
        recon, kl = importance_weighted_terms(
            module,
            likelihood,
            x,
            6,
            kl_weight=weight,
            generator=torch.Generator().manual_seed(0),
        )
        eps = torch.randn(
            (16, 6, vae.n_components), generator=torch.Generator().manual_seed(0)
        )
        log_w = log_importance_weights(module, likelihood, x, eps)
        params = module.decode(
            module.reparameterize(
                *(t.unsqueeze(1) for t in module.encode(x)), eps
            ).flatten(0, 1)
        ).unflatten(0, (16, 6))
        log_px = likelihood.log_prob(params, x.unsqueeze(1))
        # log_w - log_px is the prior/posterior part, which ``weight`` scales
        bound = torch.logsumexp(log_px + weight * (log_w - log_px), 1) - np.log(6)
        torch.testing.assert_close(recon + weight * kl, -bound)
        assert not kl.requires_grad and recon.requires_grad


def test_importance_weighted_loss_has_the_bounds_gradient(vae, digits):
    from skvae._objectives import importance_weighted_terms

    module = copy.deepcopy(vae.module_)
    x = torch.as_tensor(digits[:16], dtype=torch.float32)

    def grads(use_terms):
        module.zero_grad()
        g = torch.Generator().manual_seed(0)
        recon, kl = importance_weighted_terms(
            module, vae.likelihood_, x, 5, generator=g
        )
        if use_terms:
            (recon + kl).mean().backward()
        else:
            eps = torch.randn(
                (16, 5, vae.n_components), generator=torch.Generator().manual_seed(0)
            )
            log_w = log_importance_weights(module, vae.likelihood_, x, eps)
            (-(torch.logsumexp(log_w, 1) - np.log(5))).mean().backward()
        return [p.grad.clone() for p in module.parameters()]

    for a, b in zip(grads(True), grads(False), strict=True):
        torch.testing.assert_close(a, b)


def test_training_on_the_importance_weighted_bound_raises_the_likelihood(digits):
    X = load_digits().data / 16
    train, test = X[:1400], X[1400:]
    scores = {}
    for k in (1, 5):
        model = VAETransformer(
            4,
            hidden_layer_sizes=(64,),
            likelihood="bernoulli",
            max_iter=40,
            n_importance_train=k,
            learning_rate_init=1e-3,  # the settings of the figure below
            early_stopping=False,
            random_state=0,
            device="cpu",
        ).fit(train)
        scores[k] = model.score(test, n_importance=200)
        assert model.loss_curve_[-1] == pytest.approx(
            model.history_[-1]["recon"] + model.history_[-1]["kl"]
        )
    assert scores[5] > scores[1] + 0.2  # 0.46 nats at this seed
