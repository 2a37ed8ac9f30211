"""The torch core on its own: module, likelihoods, ELBO, training loop."""

import math

import pytest
import torch

from skvae import (
    BernoulliLikelihood,
    FullCovarianceGaussianLikelihood,
    GaussianLikelihood,
    VAEModule,
)
from skvae._objectives import elbo_terms, kl_to_standard_normal, kl_warmup_weight
from skvae._training import train


def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def test_module_shapes_and_mirrored_decoder():
    module = VAEModule(10, 3, 20, hidden_layer_sizes=(16, 8), activation="tanh")
    linears = [m for m in module.encoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (10, 16),
        (16, 8),
        (8, 6),
    ]
    linears = [m for m in module.decoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (3, 8),
        (8, 16),
        (16, 20),
    ]
    params, loc, log_scale = module(
        torch.randn(4, 10, generator=_gen()), generator=_gen()
    )
    assert params.shape == (4, 20) and loc.shape == log_scale.shape == (4, 3)


def test_module_without_hidden_layers_is_linear():
    module = VAEModule(5, 2, 5, hidden_layer_sizes=())
    assert len(module.encoder) == 1 and len(module.decoder) == 1


def test_reset_parameters_is_reproducible_from_generator():
    a, b = VAEModule(6, 2, 6, (4,)), VAEModule(6, 2, 6, (4,))
    a.reset_parameters(_gen(3))
    b.reset_parameters(_gen(3))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    b.reset_parameters(_gen(4))
    assert not torch.equal(a.encoder[0].weight, b.encoder[0].weight)


def test_kl_matches_torch_distributions():
    loc, log_scale = (
        torch.randn(7, 3, generator=_gen()),
        torch.randn(7, 3, generator=_gen(1)),
    )
    q = torch.distributions.Normal(loc, log_scale.exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    expected = torch.distributions.kl_divergence(q, p).sum(-1)
    torch.testing.assert_close(kl_to_standard_normal(loc, log_scale), expected)


def test_gaussian_likelihood_log_prob_and_floor():
    lik = GaussianLikelihood(min_scale=0.1)
    params = torch.cat([torch.zeros(2, 3), torch.full((2, 3), -50.0)], dim=1)
    dist = lik.distribution(params)
    assert torch.allclose(dist.base_dist.scale, torch.full((2, 3), 0.1), atol=1e-6)
    x = torch.ones(2, 3)
    expected = 3 * (-0.5 * (1 / 0.1) ** 2 - math.log(0.1) - 0.5 * math.log(2 * math.pi))
    torch.testing.assert_close(
        dist.log_prob(x), torch.full((2,), expected), rtol=1e-5, atol=1e-4
    )
    assert torch.equal(lik.mean(params), torch.zeros(2, 3))


def _full_params(n_rows, d, seed=0):
    """Decoder outputs for FullCovarianceGaussianLikelihood: per-row means,
    then one shared block, as VAEModule lays them out."""
    g = _gen(seed)
    lik = FullCovarianceGaussianLikelihood()
    loc = torch.randn(n_rows, d, generator=g, dtype=torch.float64)
    shared = torch.randn(lik.n_shared_params(d), generator=g, dtype=torch.float64)
    return torch.cat([loc, shared.expand(n_rows, -1)], dim=1)


def test_full_covariance_log_prob_is_the_multivariate_normal():
    lik = FullCovarianceGaussianLikelihood()
    params = _full_params(6, 4)
    loc, cov = lik.mean(params), lik.covariance(params)
    assert cov.shape == (4, 4) and not torch.allclose(cov, torch.diag(cov.diagonal()))
    x = torch.randn(6, 4, generator=_gen(1), dtype=torch.float64)
    reference = torch.distributions.MultivariateNormal(loc, cov).log_prob(x)
    torch.testing.assert_close(lik.log_prob(params, x), reference)
    torch.testing.assert_close(lik.distribution(params).log_prob(x), reference)
    everything = torch.ones_like(x)
    torch.testing.assert_close(lik.masked_log_prob(params, x, everything), reference)
    # broadcast over draws, as the importance-weighted bound calls it
    draws = params.unsqueeze(1).expand(6, 3, -1)
    assert lik.log_prob(draws, x.unsqueeze(1)).shape == (6, 3)
    # the floor on L's diagonal: a constant column keeps a finite density
    floored = params.clone()
    floored[:, 4:8] = -60.0
    diagonal = lik._split(floored)[1].diagonal()
    torch.testing.assert_close(
        diagonal, torch.full_like(diagonal, 1e-3), rtol=1e-6, atol=0
    )
    assert torch.isfinite(lik.log_prob(floored, x)).all()


def test_full_covariance_at_zero_shared_params_is_the_diagonal_gaussian():
    # where training starts: VAEModule zero-initialises the shared parameters
    full, diagonal = FullCovarianceGaussianLikelihood(), GaussianLikelihood()
    loc = torch.randn(5, 3, generator=_gen(), dtype=torch.float64)
    x = torch.randn(5, 3, generator=_gen(1), dtype=torch.float64)
    p_full = torch.cat([loc, torch.zeros(5, 6, dtype=torch.float64)], dim=1)
    p_diag = torch.cat([loc, torch.zeros(5, 3, dtype=torch.float64)], dim=1)
    torch.testing.assert_close(full.log_prob(p_full, x), diagonal.log_prob(p_diag, x))


def test_full_covariance_masked_log_prob_is_the_observed_marginal():
    lik = FullCovarianceGaussianLikelihood()
    params = _full_params(5, 4)
    loc, cov = lik.mean(params), lik.covariance(params)
    x = torch.randn(5, 4, generator=_gen(2), dtype=torch.float64)
    observed = torch.tensor(
        [[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1], [0, 1, 0, 1], [1, 0, 0, 0]],
        dtype=torch.float64,
    )
    x_with_gaps = torch.where(observed > 0, x, torch.nan)  # values there are ignored
    got = lik.masked_log_prob(params, x_with_gaps, observed)
    for i in range(5):
        o = observed[i].bool()
        marginal = torch.distributions.MultivariateNormal(loc[i, o], cov[o][:, o])
        torch.testing.assert_close(got[i], marginal.log_prob(x[i, o]))
    # nothing observed: log 1
    none = lik.masked_log_prob(params, x, torch.zeros_like(x))
    torch.testing.assert_close(none, torch.zeros(5, dtype=torch.float64))


def test_full_covariance_conditional_mean_and_draws_are_the_gaussian_regression():
    lik = FullCovarianceGaussianLikelihood()
    params = _full_params(1, 4, seed=3)
    loc, cov = lik.mean(params)[0], lik.covariance(params)
    x = torch.randn(1, 4, generator=_gen(4), dtype=torch.float64)
    observed = torch.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=torch.float64)
    o, m = observed[0].bool(), ~observed[0].bool()
    gain = cov[m][:, o] @ torch.linalg.inv(cov[o][:, o])
    expected_mean = loc[m] + gain @ (x[0, o] - loc[o])
    expected_cov = cov[m][:, m] - gain @ cov[o][:, m]
    mean = lik.conditional_mean(params, x, observed)[0]
    torch.testing.assert_close(mean[m], expected_mean)
    torch.testing.assert_close(mean[o], x[0, o])  # observed entries kept
    g = _gen(5)
    draws = torch.cat(
        [lik.conditional_sample(params, x, observed, g) for _ in range(4000)]
    )
    assert torch.equal(draws[:, o], x[:, o].expand(4000, -1))
    torch.testing.assert_close(draws[:, m].mean(0), expected_mean, atol=0.06, rtol=0)
    torch.testing.assert_close(
        torch.cov(draws[:, m].T), expected_cov, atol=0.06 * expected_cov.max(), rtol=0
    )
    # unconditional draws: the covariance L L^T
    plain = torch.cat([lik.sample(params, g) for _ in range(4000)])
    torch.testing.assert_close(torch.cov(plain.T), cov, atol=0.08 * cov.max(), rtol=0)


def test_full_covariance_algebra_ignores_autocast():
    # mixed-precision training runs the loss under bfloat16 autocast; the
    # covariance's products and factorisations must stay in float32
    lik = FullCovarianceGaussianLikelihood()
    params = _full_params(6, 5).float()
    x = torch.randn(6, 5, generator=_gen(1))
    observed = (torch.rand(6, 5, generator=_gen(2)) > 0.3).float()
    calls = {
        "log_prob": lambda: lik.log_prob(params, x),
        "masked_log_prob": lambda: lik.masked_log_prob(params, x, observed),
        "conditional_mean": lambda: lik.conditional_mean(params, x, observed),
        "covariance": lambda: lik.covariance(params),
        "sample": lambda: lik.sample(params, _gen(3)),
    }
    for name, call in calls.items():
        plain = call()
        with torch.autocast("cpu", torch.bfloat16):
            mixed = call()
        assert mixed.dtype == torch.float32, name
        torch.testing.assert_close(mixed, plain, msg=name)


def test_factorised_likelihoods_condition_on_nothing():
    # the base class's conditional mean and draws ignore the observed entries
    lik = GaussianLikelihood()
    params = torch.randn(3, 4, generator=_gen())
    x, observed = torch.ones(3, 2), torch.tensor([[1.0, 0.0]] * 3)
    assert torch.equal(lik.conditional_mean(params, x, observed), lik.mean(params))
    torch.testing.assert_close(
        lik.masked_log_prob(params, x, observed),
        lik.distribution(params).base_dist.log_prob(x)[:, 0],
    )
    draw = lik.conditional_sample(params, x, observed, _gen(7))
    torch.testing.assert_close(draw, lik.sample(params, _gen(7)))


def test_bernoulli_likelihood_is_cross_entropy_on_grey_levels():
    lik = BernoulliLikelihood()
    logits = torch.randn(4, 5, generator=_gen())
    x = torch.rand(4, 5, generator=_gen(1))
    expected = -torch.nn.functional.binary_cross_entropy_with_logits(
        logits, x, reduction="none"
    ).sum(-1)
    torch.testing.assert_close(lik.distribution(logits).log_prob(x), expected)
    torch.testing.assert_close(lik.mean(logits), torch.sigmoid(logits))


def test_likelihood_params_repr_and_equality():
    assert GaussianLikelihood(0.5).get_params() == {"min_scale": 0.5}
    assert repr(GaussianLikelihood(0.5)) == "GaussianLikelihood(min_scale=0.5)"
    assert GaussianLikelihood(0.5) == GaussianLikelihood(0.5) != GaussianLikelihood()


def test_elbo_terms_deterministic_autoencoder_has_zero_kl():
    module = VAEModule(4, 2, 8, (6,))
    x = torch.randn(3, 4, generator=_gen())
    recon, kl = elbo_terms(module, GaussianLikelihood(), x, variational=False)
    assert torch.equal(kl, torch.zeros(3))
    expected = (
        -GaussianLikelihood()
        .distribution(module.decode(module.encode(x)[0]))
        .log_prob(x)
    )
    torch.testing.assert_close(recon, expected)


def test_kl_weight_schedule():
    assert kl_warmup_weight(0, 2.0, 0) == 2.0
    weights = [kl_warmup_weight(e, 1.0, 4) for e in range(5)]
    assert weights == [0.25, 0.5, 0.75, 1.0, 1.0]


def _toy_data(n=256):
    g = _gen(0)
    z = torch.randn(n, 2, generator=g)
    return z @ torch.randn(2, 6, generator=g) + 0.05 * torch.randn(n, 6, generator=g)


def test_train_lowers_the_negative_elbo_and_reports_terms():
    X = _toy_data()
    module = VAEModule(6, 2, 12, (16,))
    module.reset_parameters(_gen(1))
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    result = train(
        module,
        GaussianLikelihood(),
        opt,
        X,
        n_epochs=30,
        batch_size=32,
        generator=_gen(2),
        stop_early=False,
    )
    losses = [r["loss"] for r in result.history]
    assert len(losses) == 30 and losses[-1] < losses[0] - 5
    for r in result.history:
        assert r["loss"] == pytest.approx(r["recon"] + r["kl_weight"] * r["kl"])
        assert r["val_loss"] is None


def test_train_early_stopping_restores_best_validation_weights():
    X = _toy_data(300)
    module = VAEModule(6, 2, 12, (16,))
    module.reset_parameters(_gen(1))
    opt = torch.optim.Adam(module.parameters(), lr=5e-2)
    result = train(
        module,
        GaussianLikelihood(),
        opt,
        X[:240],
        X_val=X[240:],
        n_epochs=200,
        batch_size=32,
        generator=_gen(2),
        n_iter_no_change=3,
        tol=0.0,
    )
    assert result.converged and len(result.history) < 200
    best = min(r["val_loss"] for r in result.history)
    assert result.best_val_loss == best
    # The restored weights are those of the best epoch, not the last one.
    assert result.history[-1]["val_loss"] >= best
