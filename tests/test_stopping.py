"""The default stopping rule: held-out rows from 1,000 rows on, else the loss."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skvae import AutoencoderTransformer, VAETransformer
from skvae._base import AUTO_EARLY_STOPPING_ROWS

SMALL = dict(hidden_layer_sizes=(16,), random_state=0, device="cpu")


@pytest.fixture(scope="module")
def digits():
    return load_digits().data / 16.0


@pytest.mark.parametrize("Estimator", [VAETransformer, AutoencoderTransformer])
def test_auto_is_the_default(Estimator):
    assert Estimator().early_stopping == "auto"
    assert Estimator().max_iter == 1000


@pytest.mark.parametrize(
    "n_rows, held_out",
    [(AUTO_EARLY_STOPPING_ROWS - 1, False), (AUTO_EARLY_STOPPING_ROWS, True)],
)
@pytest.mark.parametrize("Estimator", [VAETransformer, AutoencoderTransformer])
def test_auto_holds_rows_out_from_the_threshold_on(digits, Estimator, n_rows, held_out):
    est = Estimator(2, max_iter=2, **SMALL)
    with pytest.warns(ConvergenceWarning, match="maximum iterations"):
        est.fit(digits[:n_rows])
    if held_out:
        assert len(est.validation_scores_) == 2
        assert est.best_validation_score_ == max(est.validation_scores_)
        assert est.best_loss_ is None
        assert all(r["val_loss"] is not None for r in est.history_)
    else:
        assert est.validation_scores_ is None
        assert est.best_loss_ == min(est.loss_curve_)


def test_auto_agrees_with_true_and_false(digits):
    """ "auto" is exactly early_stopping=True above the threshold, False below."""
    kwargs = dict(max_iter=3, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for n_rows, same in [(1200, True), (500, False)]:
            auto = VAETransformer(2, **kwargs).fit(digits[:n_rows])
            forced = VAETransformer(2, early_stopping=same, **kwargs).fit(
                digits[:n_rows]
            )
            np.testing.assert_array_equal(
                auto.transform(digits[:50]), forced.transform(digits[:50])
            )
            assert auto.loss_curve_ == forced.loss_curve_


def test_a_default_fit_on_digits_stops_by_itself_without_a_warning(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        vae = VAETransformer(2, random_state=0).fit(digits)  # the defaults
    assert vae.n_iter_ < vae.max_iter
    # it stopped at the first epoch where the relative rule held, not before
    assert _first_plateau(vae.validation_scores_, vae.n_iter_no_change, vae.tol) == (
        vae.n_iter_
    )
    best = int(np.argmax(vae.validation_scores_))
    assert vae.best_validation_score_ == vae.validation_scores_[best]


def _first_plateau(scores, window, tol):
    """The first epoch at which the last ``window`` epochs improved the best
    score by at most ``tol`` times its improvement since the first epoch, by
    a loop written apart from skvae's."""
    for end in range(window + 1, len(scores) + 1):
        before, now = max(scores[: end - window]), max(scores[:end])
        if now - before <= tol * (now - scores[0]):
            return end
    return None


@pytest.mark.parametrize("tol", [0.0, 0.02, 0.2])
def test_the_rule_stops_where_its_definition_says(digits, tol):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        vae = VAETransformer(
            2, early_stopping=True, n_iter_no_change=8, tol=tol, max_iter=400, **SMALL
        ).fit(digits[:1200])
    # (8 epochs of 9 mini-batches span more than MIN_PATIENCE_STEPS)
    assert _first_plateau(vae.validation_scores_, 8, tol) == vae.n_iter_
    if tol == 0:  # the plain rule: the window holds no new best
        assert vae.n_iter_ == int(np.argmax(vae.validation_scores_)) + 1 + 8


def test_a_larger_tol_stops_sooner(digits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        epochs = [
            VAETransformer(2, tol=tol, max_iter=400, **SMALL).fit(digits).n_iter_
            for tol in (0.0, 0.02, 0.2)
        ]
    assert epochs[0] >= epochs[1] >= epochs[2]
    assert epochs[0] > epochs[2]


def test_the_plateau_rule_is_relative():
    from skvae._training import Plateau

    def stop(losses, **kw):
        rule = Plateau(**kw)
        for epoch, loss in enumerate(losses, 1):
            rule.append(loss)
            if rule.reached():
                return epoch
        return None

    curve = list(100.0 / np.arange(1.0, 200.0))  # a loss that slows down
    # scaling or shifting the loss moves no decision: one tol fits every data set
    first = stop(curve, window=10, tol=0.02)
    assert first is not None
    assert stop([3.0 * v + 50 for v in curve], window=10, tol=0.02) == first
    assert stop([v / 1000 - 7 for v in curve], window=10, tol=0.02) == first
    # a noisy loss that improves at a steady rate never stops
    rng = np.random.RandomState(0)
    assert stop(list(-np.arange(300.0) + rng.randn(300)), window=10, tol=0.02) is None
    # with tol=0: exactly `window` epochs without a new best
    assert stop([5, 4, 3, 3.5, 3.2, 3.1], window=3, tol=0.0) == 6
    assert stop([5, 4, 3, 3.5, 3.2, 2.9], window=3, tol=0.0) is None


@pytest.mark.parametrize("tol", [-0.1, 1.5, "0.1", None])
def test_a_bad_tol_is_refused_by_name(digits, tol):
    est = VAETransformer(2, tol=tol, **SMALL)
    with pytest.raises((ValueError, TypeError), match="tol"):
        est.fit(digits[:20])
    assert not hasattr(est, "module_")


def test_partial_fit_never_holds_rows_out(digits):
    vae = VAETransformer(2, **SMALL).partial_fit(digits[:1200])
    assert vae.n_iter_ == 1
    assert vae.history_[0]["val_loss"] is None


def test_auto_too_few_rows_for_a_split_is_never_reached():
    # below the threshold "auto" never splits, so no validation error can arise
    X = np.random.RandomState(0).rand(3, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        VAETransformer(2, max_iter=1, **SMALL).fit(X)


def test_a_bad_early_stopping_is_refused_by_name(digits):
    est = VAETransformer(2, early_stopping="sometimes", **SMALL)
    with pytest.raises(ValueError, match="early_stopping"):
        est.fit(digits[:20])
    assert not hasattr(est, "module_")


def test_patience_spans_at_least_min_patience_steps():
    from skvae._training import MIN_PATIENCE_STEPS, patience

    assert patience(10, 1) == MIN_PATIENCE_STEPS  # one mini-batch per epoch
    assert patience(10, 100) == 10  # many: n_iter_no_change as given
    assert patience(10, 0) == MIN_PATIENCE_STEPS  # no rows: never divides by 0


def test_a_one_batch_table_waits_fifty_steps_for_a_plateau(monkeypatch):
    # a loss that never improves: the rule fires after its patience, which on
    # one mini-batch per epoch is MIN_PATIENCE_STEPS epochs, not n_iter_no_change
    import skvae._training

    X = np.random.RandomState(0).normal(size=(40, 3))
    # tol=1: any window is a plateau, so the rule fires once its window is full
    common = dict(hidden_layer_sizes=(4,), max_iter=200, tol=1.0, random_state=0)
    vae = VAETransformer(2, n_iter_no_change=3, **common).fit(X)
    assert vae.n_iter_ == skvae._training.MIN_PATIENCE_STEPS + 1
    monkeypatch.setattr(skvae._training, "MIN_PATIENCE_STEPS", 1)
    assert VAETransformer(2, n_iter_no_change=3, **common).fit(X).n_iter_ == 4
