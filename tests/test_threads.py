"""The thread policy: measured on the CPU, fixed where asked, always restored."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import skvae._threads
from skvae import VAETransformer, load
from skvae._threads import ThreadChooser, cpu_threads_for, thread_policy

TINY = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, device="cpu")
CPU = torch.device("cpu")


@pytest.fixture
def X():
    return load_digits().data[:200] / 16.0


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def measured(monkeypatch):
    monkeypatch.delenv("SKVAE_NUM_THREADS", raising=False)
    monkeypatch.setattr(skvae._threads, "_DECISIONS", {})


def run(chooser, seconds_for, n_steps):
    """Feed ``chooser`` steps whose times ``seconds_for(count, step)`` gives."""
    counts = []
    for step in range(n_steps):
        count = chooser.next_count()
        counts.append(count)
        chooser.record(seconds_for(count, step))
    return counts


# ------------------------------------------------------------- the chooser


def test_the_faster_count_is_kept():
    chooser = ThreadChooser(2)
    counts = run(chooser, lambda c, s: {1: 1.0, 2: 0.6}[c], 40)
    assert chooser.chosen == 2
    assert set(counts[:8]) == {1, 2}  # a trial block of each first
    assert counts[-10:] == [2] * 10


def test_a_tie_goes_to_one_thread():
    chooser = ThreadChooser(2)
    run(chooser, lambda c, s: {1: 1.0, 2: 0.97}[c], 40)
    assert chooser.chosen == 1  # within the 5% margin


def test_one_thread_wins_under_load_after_one_round():
    chooser = ThreadChooser(2)
    counts = run(chooser, lambda c, s: {1: 1.0, 2: 30.0}[c], 8)
    assert chooser.chosen == 1
    assert not chooser.trialling
    assert counts.count(2) == 4  # a clear loser is not tried again


def test_the_first_step_of_each_block_is_not_counted():
    # a slow first step after each switch (the pool waking up) must not decide
    chooser = ThreadChooser(2)
    run(chooser, lambda c, s: (50.0 if s % 4 == 0 else {1: 1.0, 2: 0.5}[c]), 24)
    assert chooser.chosen == 2


def test_drift_starts_a_new_trial():
    chooser = ThreadChooser(2)
    run(chooser, lambda c, s: {1: 1.0, 2: 0.5}[c], 24)
    assert chooser.chosen == 2 and chooser.n_trials == 1
    # load arrives: two threads become 20 times slower
    run(chooser, lambda c, s: {1: 1.2, 2: 10.0}[c], 16 + 8)
    assert chooser.n_trials == 2
    assert chooser.chosen == 1


def test_steady_times_never_start_a_new_trial():
    chooser = ThreadChooser(2)
    run(chooser, lambda c, s: {1: 1.0, 2: 0.5}[c] * (1 + 0.1 * (s % 3)), 500)
    assert chooser.n_trials == 1


# ------------------------------------------------------------- the policy


def test_the_environment_variable_fixes_the_count(monkeypatch, two_threads):
    monkeypatch.setenv("SKVAE_NUM_THREADS", "1")
    module = torch.nn.Linear(4, 4)
    with thread_policy(module, 8, CPU) as threads:
        assert torch.get_num_threads() == 1
        threads.before_step()
        threads.after_step()
        assert threads.n_threads == 1
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_environment_variable_is_refused_by_name(monkeypatch, value, X):
    monkeypatch.setenv("SKVAE_NUM_THREADS", value)
    est = VAETransformer(2, **TINY)
    with pytest.raises(ValueError, match="SKVAE_NUM_THREADS"):
        est.fit(X)
    assert not hasattr(est, "module_")


def test_other_devices_and_one_thread_keep_the_setting(two_threads):
    module = torch.nn.Linear(4, 4)
    with thread_policy(module, 8, torch.device("cuda")) as threads:
        assert threads.n_threads == 2 and torch.get_num_threads() == 2
    torch.set_num_threads(1)
    with thread_policy(module, 8, CPU) as threads:
        threads.before_step()
        assert threads.n_threads == 1 and torch.get_num_threads() == 1


def test_data_parallel_training_keeps_the_size_rule(two_threads):
    small, large = torch.nn.Linear(4, 4), torch.nn.Linear(2048, 2048)
    with thread_policy(small, 8, CPU, data_parallel=True) as threads:
        assert threads.n_threads == 1 == torch.get_num_threads()
    with thread_policy(large, 128, CPU, data_parallel=True) as threads:
        assert threads.n_threads == 2 == torch.get_num_threads()
    assert torch.get_num_threads() == 2


def test_the_count_is_restored_when_training_fails(two_threads):
    module = torch.nn.Linear(4, 4)
    with pytest.raises(RuntimeError, match="boom"):
        with thread_policy(module, 8, CPU) as threads:
            threads.before_step()  # the first trial step runs on one thread
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError, match="boom"):
        with cpu_threads_for(module, 8, CPU):
            assert torch.get_num_threads() == 1
            raise RuntimeError("boom")
    assert torch.get_num_threads() == 2


# ------------------------------------------------------------- through fit


class FakeClock:
    """``time.perf_counter`` where a step lasts what the thread count says."""

    def __init__(self, seconds):
        self.seconds, self.now, self.counts = seconds, 0.0, []

    def perf_counter(self):
        count = torch.get_num_threads()
        self.counts.append(count)
        self.now += self.seconds[count] / 2  # called twice per step
        return self.now


@pytest.mark.parametrize("faster", [1, 2])
def test_fit_trains_on_the_faster_count_and_records_it(
    monkeypatch, two_threads, X, faster, tmp_path
):
    clock = FakeClock({1: 1.0, 2: 0.5} if faster == 2 else {1: 1.0, 2: 5.0})
    monkeypatch.setattr(skvae._threads, "time", clock)
    est = VAETransformer(2, **{**TINY, "batch_size": 16, "max_iter": 4}).fit(X)
    assert est.n_threads_ == faster
    assert set(clock.counts) == {1, 2}  # both were tried
    assert clock.counts[-1] == faster
    assert torch.get_num_threads() == 2
    restored = load(save_to(est, tmp_path))
    assert restored.n_threads_ == faster


def save_to(est, tmp_path):
    path = tmp_path / "model.skvae"
    est.save(path)
    return path


def test_a_fixed_count_gives_the_same_fit_twice(monkeypatch, X):
    monkeypatch.setenv("SKVAE_NUM_THREADS", "1")
    first = VAETransformer(2, **TINY).fit(X)
    second = VAETransformer(2, **TINY).fit(X)
    assert first.n_threads_ == second.n_threads_ == 1
    np.testing.assert_array_equal(first.transform(X), second.transform(X))


def test_the_next_fit_of_the_same_shape_starts_from_the_decision(
    monkeypatch, two_threads, X
):
    clock = FakeClock({1: 1.0, 2: 0.5})
    monkeypatch.setattr(skvae._threads, "time", clock)
    params = {**TINY, "batch_size": 16, "max_iter": 4}
    VAETransformer(2, **params).fit(X)
    assert len(skvae._threads._DECISIONS) == 1
    clock.counts.clear()
    est = VAETransformer(2, **params).partial_fit(X)
    assert est.n_threads_ == 2
    assert set(clock.counts) == {2}  # no new trial on one thread
    # another shape is trialled afresh
    clock.counts.clear()
    VAETransformer(3, **params).partial_fit(X)
    assert set(clock.counts) == {1, 2}


def test_a_decision_carried_over_is_still_watched_for_drift():
    chooser = ThreadChooser(2, decided=(2, 0.5))
    assert not chooser.trialling and chooser.next_count() == 2
    run(chooser, lambda c, s: {1: 1.0, 2: 5.0}[c], 16 + 8)
    assert chooser.n_trials == 2 and chooser.chosen == 1
