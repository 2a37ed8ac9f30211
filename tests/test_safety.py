"""Training that fails safely, interrupts, threads and degenerate data."""

import _thread
import copy
import itertools
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.utils.validation import check_is_fitted

import skvae._training
from skvae import VAETransformer

TINY = dict(hidden_layer_sizes=(8,), random_state=0, device="cpu")


@pytest.fixture(scope="module")
def X():
    return np.random.RandomState(0).normal(size=(64, 4))


def weights(est):
    return {k: v.clone() for k, v in est.module_.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def optimizer_tensors(est):
    state = est.optimizer_.state_dict()["state"]
    return {(i, k): v.clone() for i, entry in state.items() for k, v in entry.items()}


def assert_finite_model(est):
    for name, p in est.module_.state_dict().items():
        assert torch.isfinite(p).all(), name
    assert np.isfinite(est.loss_curve_).all()
    assert est.n_iter_ == len(est.loss_curve_) == len(est.history_)


def assert_unfitted(est):
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    assert not any(k.endswith("_") for k in vars(est)), sorted(vars(est))
    assert "_random_state" not in vars(est)


def nan_loss_from_call(monkeypatch, first_bad_call):
    """Make every ELBO from the ``first_bad_call``-th training step on NaN."""
    original = skvae._training.elbo_terms
    calls = itertools.count(1)

    def elbo_terms(*args, **kwargs):
        recon, kl = original(*args, **kwargs)
        if next(calls) >= first_bad_call:
            recon = recon * float("nan")
        return recon, kl

    monkeypatch.setattr(skvae._training, "elbo_terms", elbo_terms)


def patch_step(monkeypatch, action):
    """Call ``action(call_number, optimizer)`` around every Adam step."""
    original = torch.optim.Adam.step
    calls = itertools.count(1)

    def step(self, *args, **kwargs):
        return action(next(calls), self, lambda: original(self, *args, **kwargs))

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    # the loop calls the fused kernel directly after the first step; use
    # Adam.step throughout so that every step passes through ``action``
    monkeypatch.setattr(skvae._training, "optimizer_step", lambda opt: opt.step)


# ----------------------------------------------------------------- divergence


@pytest.mark.parametrize("batch_size", [64, 8])
def test_huge_learning_rate_warns_with_finite_weights_or_raises(X, batch_size):
    est = VAETransformer(
        2, **TINY, max_iter=20, learning_rate_init=1e10, batch_size=batch_size
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            est.fit(X)
        except ValueError as exc:
            assert "learning_rate_init" in str(exc) and "not finite" in str(exc)
            assert_unfitted(est)
            return
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert any("non-finite in epoch" in m for m in messages), messages
    assert_finite_model(est)
    assert np.isfinite(est.transform(X)).all()


def test_huge_learning_rate_cases_are_deterministic(X):
    # One step per epoch: epoch 1 is finite, epoch 2 diverges.
    est = VAETransformer(2, **TINY, max_iter=20, learning_rate_init=1e10, batch_size=64)
    with pytest.warns(ConvergenceWarning, match="non-finite in epoch 2"):
        est.fit(X)
    assert est.n_iter_ == 1
    # Eight steps per epoch: the first epoch already diverges.
    est = VAETransformer(2, **TINY, max_iter=20, learning_rate_init=1e10, batch_size=8)
    with pytest.raises(ValueError, match="smaller learning_rate_init"):
        est.fit(X)
    assert_unfitted(est)


def test_divergence_restores_the_last_finite_epoch_exactly(X, monkeypatch):
    reference = VAETransformer(2, **TINY, max_iter=3, batch_size=64).fit(X)
    nan_loss_from_call(monkeypatch, 4)  # one step per epoch: epoch 4 diverges
    est = VAETransformer(2, **TINY, max_iter=10, batch_size=64)
    with pytest.warns(ConvergenceWarning, match="epoch 4"):
        est.fit(X)
    assert_same_weights(weights(est), weights(reference))
    a, b = optimizer_tensors(est), optimizer_tensors(reference)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert est.loss_curve_ == reference.loss_curve_
    assert est.best_loss_ == min(est.loss_curve_)
    assert_finite_model(est)


def test_non_finite_weights_after_a_finite_loss_are_caught(X, monkeypatch):
    reference = VAETransformer(2, **TINY, max_iter=2, batch_size=64).fit(X)

    def poison_third(call, optimizer, step):
        out = step()
        if call == 3:  # the loss of this step was finite, the weights are not
            with torch.no_grad():
                optimizer.param_groups[0]["params"][0].fill_(float("inf"))
        return out

    patch_step(monkeypatch, poison_third)
    est = VAETransformer(2, **TINY, max_iter=10, batch_size=64)
    with pytest.warns(ConvergenceWarning, match="epoch 3"):
        est.fit(X)
    assert est.n_iter_ == 2
    assert_same_weights(weights(est), weights(reference))


def test_failed_fit_keeps_the_previous_model(X, monkeypatch):
    est = VAETransformer(2, **TINY, max_iter=2).fit(X)
    before, curve = weights(est), est.loss_curve_[:]
    nan_loss_from_call(monkeypatch, 1)
    with pytest.raises(ValueError, match="left as it was"):
        est.fit(X)  # a refused refit changes nothing (see test_transactional)
    assert_same_weights(weights(est), before)
    assert est.loss_curve_ == curve
    monkeypatch.undo()
    assert_finite_model(est.fit(X))


@pytest.mark.parametrize("method", ["warm_start", "partial_fit"])
def test_divergence_when_continuing_keeps_the_previous_model(X, monkeypatch, method):
    est = VAETransformer(2, **TINY, max_iter=3, warm_start=True).fit(X)
    before, before_opt, curve = weights(est), optimizer_tensors(est), est.loss_curve_[:]
    nan_loss_from_call(monkeypatch, 1)
    with pytest.warns(ConvergenceWarning, match="non-finite in epoch 4"):
        est.fit(X) if method == "warm_start" else est.partial_fit(X)
    assert_same_weights(weights(est), before)
    after_opt = optimizer_tensors(est)
    assert all(torch.equal(after_opt[k], before_opt[k]) for k in before_opt)
    assert est.loss_curve_ == curve and est.n_iter_ == 3


def test_partial_fit_diverging_from_scratch_raises(X, monkeypatch):
    nan_loss_from_call(monkeypatch, 1)
    est = VAETransformer(2, **TINY)
    with pytest.raises(ValueError, match="learning_rate_init"):
        est.partial_fit(X)
    assert_unfitted(est)


def test_values_beyond_float32_are_refused(X):
    with pytest.raises(ValueError, match="float32"):
        VAETransformer(2, **TINY).fit(X * 1e300)
    with pytest.raises(ValueError, match="scale X"):
        VAETransformer(2, **TINY, max_iter=2).fit(X * 1e30)


# ------------------------------------------------------------ early stopping


@pytest.mark.parametrize("ending", ["converged", "diverged", "interrupted"])
def test_early_stopping_keeps_the_best_validation_weights(X, monkeypatch, ending):
    script = [3.0, 1.0, 2.0, 2.5, 4.0, 5.0, 6.0]
    if ending == "diverged":
        script[3] = float("nan")
    seen = []

    def validation_loss(module, *args):
        seen.append(copy.deepcopy(module.state_dict()))
        if ending == "interrupted" and len(seen) == 4:
            raise KeyboardInterrupt
        return script[len(seen) - 1]

    monkeypatch.setattr(skvae._training, "_validation_loss", validation_loss)
    monkeypatch.setattr(skvae._training, "MIN_PATIENCE_STEPS", 1)  # epochs only
    est = VAETransformer(
        2, **TINY, max_iter=50, early_stopping=True, n_iter_no_change=2, tol=0.0
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X)
    expected = {"converged": [], "diverged": [ConvergenceWarning]}
    assert [w.category for w in caught] == expected.get(ending, [UserWarning])
    assert est.best_validation_score_ == -1.0
    # converged: epochs 3 and 4, the window of 2, set no new best
    n_epochs = {"converged": 4, "diverged": 3, "interrupted": 3}[ending]
    assert est.validation_scores_ == [-v for v in script[:n_epochs]]

    # The model kept is the one of epoch 2. Fitting may reorder the latent
    # dimensions afterwards, so compare reconstructions, which do not depend
    # on that order.
    best = copy.deepcopy(est.module_)
    best.load_state_dict(seen[1])
    x = torch.from_numpy(X.astype(np.float32))
    with torch.no_grad():
        expected = est.likelihood_.mean(best.decode(best.encode(x)[0])).numpy()
    Xf = X.astype(np.float32)
    got = est.inverse_transform(est.transform(Xf))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- interrupts


def test_interrupt_mid_epoch_restores_the_last_completed_epoch(X, monkeypatch):
    reference = VAETransformer(2, **TINY, max_iter=2, batch_size=16).fit(X)

    def interrupt_tenth(call, optimizer, step):
        if call == 10:  # the second step of epoch 3 (four steps per epoch)
            raise KeyboardInterrupt
        return step()

    patch_step(monkeypatch, interrupt_tenth)
    est = VAETransformer(2, **TINY, max_iter=50, batch_size=16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert est.fit(X) is est
    assert [w.category for w in caught] == [UserWarning]
    assert "interrupted" in str(caught[0].message)
    assert est.n_iter_ == 2 and est.loss_curve_ == reference.loss_curve_
    assert est.best_loss_ == min(est.loss_curve_)
    assert_same_weights(weights(est), weights(reference))
    assert_finite_model(est)


def test_interrupt_in_the_first_epoch_leaves_an_untrained_consistent_model(
    X, monkeypatch
):
    def interrupt_second(call, optimizer, step):
        if call == 2:
            raise KeyboardInterrupt
        return step()

    patch_step(monkeypatch, interrupt_second)
    est = VAETransformer(2, **TINY, max_iter=50, batch_size=16)
    with pytest.warns(UserWarning, match="after 0 epochs"):
        est.fit(X)
    assert est.n_iter_ == 0 and est.loss_curve_ == [] and est.best_loss_ is None
    assert est.optimizer_.state_dict()["state"] == {}  # back to before any step
    monkeypatch.undo()
    assert np.isfinite(est.transform(X)).all()
    est.partial_fit(X)  # and training can go on
    assert est.n_iter_ == 1


def test_interrupt_from_a_timer_thread(X, monkeypatch):
    """A real Ctrl-C: ``_thread.interrupt_main`` while fit is training."""
    timers = []

    def start_timer_once(call, optimizer, step):
        if call == 1:
            timers.append(threading.Timer(0.2, _thread.interrupt_main))
            timers[0].start()
        return step()

    patch_step(monkeypatch, start_timer_once)
    # Never converged by the loss-plateau rule: the Ctrl-C must land in training.
    est = VAETransformer(
        2, **TINY, max_iter=10**6, batch_size=16, n_iter_no_change=10**6
    )
    try:
        with pytest.warns(UserWarning, match="interrupted"):
            est.fit(X)
    finally:
        timers[0].join()
    assert 0 <= est.n_iter_ < 10**6
    assert_finite_model(est)
    if est.n_iter_:
        assert est.best_loss_ == min(est.loss_curve_)
    assert np.isfinite(est.transform(X)).all()


# -------------------------------------------------------------------- threads


def test_inference_is_thread_safe(X):
    est = VAETransformer(2, **TINY, max_iter=3).fit(X)
    X32 = X.astype(np.float32)
    Z = est.transform(X)
    calls = [
        (est.transform, X),
        (est.transform, X32),
        (est.score_samples, X),
        (est.score_samples, X32),
        (est.inverse_transform, Z),
        (est.inverse_transform, Z.astype(np.float32)),
        (lambda seed: est.sample(7, random_state=seed), 1),
        (lambda seed: est.sample(7, random_state=seed), 2),
    ]
    serial = [fn(arg) for fn, arg in calls]
    jobs = [i for _ in range(6) for i in range(len(calls))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: (i, calls[i][0](calls[i][1])), jobs))
    for i, result in results:
        np.testing.assert_array_equal(result, serial[i])


# ---------------------------------------------------------- degenerate data


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: np.full((20, 3), 5.0),
        lambda rng: np.c_[rng.normal(size=(20, 2)), np.full(20, -2.0)],
        lambda rng: 1.0 + 1e-12 * rng.normal(size=(20, 3)),
        lambda rng: rng.normal(size=(1, 3)),
        lambda rng: rng.normal(size=(2, 3)) * 100,
    ],
    ids=["constant", "one constant column", "near constant", "one row", "two rows"],
)
def test_degenerate_data_gives_finite_results(make):
    Xd = make(np.random.RandomState(0))
    est = VAETransformer(2, **TINY, max_iter=5).fit(Xd)
    assert_finite_model(est)
    assert np.isfinite(est.transform(Xd)).all()
    assert np.isfinite(est.score_samples(Xd)).all()
    assert np.isfinite(est.inverse_transform(est.transform(Xd))).all()
    assert np.isfinite(est.sample(3, random_state=0)).all()


def test_data_too_large_for_the_model_is_a_clear_error(X):
    # Unscaled values this large overflow the KL term from the first step.
    with pytest.raises(ValueError, match="StandardScaler"):
        VAETransformer(2, **TINY, max_iter=5).fit(X[:2] * 1e6)


def test_more_components_than_features(X):
    est = VAETransformer(10, **TINY, max_iter=3).fit(X[:, :2])
    assert est.transform(X[:, :2]).shape == (64, 10)
    assert np.isfinite(est.score_samples(X[:, :2])).all()
    assert est.sample(4, random_state=0).shape == (4, 2)


def test_bernoulli_constant_data():
    Xb = np.zeros((10, 5))
    est = VAETransformer(2, **TINY, max_iter=3, likelihood="bernoulli").fit(Xb)
    assert np.isfinite(est.score_samples(Xb)).all()
    assert ((est.sample(3, random_state=0) >= 0) & (est.sample(3) <= 1)).all()


def test_one_row_with_early_stopping_is_a_clear_error(X):
    with pytest.raises(ValueError, match="validation"):
        VAETransformer(2, **TINY, early_stopping=True).fit(X[:1])
