"""The torch core on its own: module, likelihoods, ELBO, training loop."""

import math

import pytest
import torch

from skvae import BernoulliLikelihood, GaussianLikelihood, VAEModule
from skvae._training import elbo_terms, kl_to_standard_normal, kl_weight, train


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
    assert kl_weight(0, 2.0, 0) == 2.0
    assert [kl_weight(e, 1.0, 4) for e in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]


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
