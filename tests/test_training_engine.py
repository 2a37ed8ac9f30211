"""How fit feeds data to the loop: no copies, memmaps, mixed precision."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import skvae._base
from skvae import VAETransformer
from skvae._objectives import elbo_terms
from skvae._training import Rows

TINY = dict(hidden_layer_sizes=(16,), max_iter=3, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def X():
    return np.ascontiguousarray(load_digits().data[:300] / 16.0)


@pytest.fixture
def spy(monkeypatch):
    """Record the data tensor handed to the training loop."""
    seen = {}
    original = skvae._base.train

    def recording_train(module, likelihood, optimizer, data, **kwargs):
        seen["data"], seen["val"] = data, kwargs.get("X_val")
        return original(module, likelihood, optimizer, data, **kwargs)

    monkeypatch.setattr(skvae._base, "train", recording_train)
    return seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_trains_on_the_callers_array_without_a_copy(spy, X, dtype):
    X = X.astype(dtype)
    VAETransformer(2, **TINY).fit(X)
    assert spy["data"].X.data_ptr() == X.ctypes.data


def test_early_stopping_splits_rows_without_copying_them(spy, X):
    X = X.astype(np.float32)
    VAETransformer(2, **TINY, early_stopping=True).fit(X)
    train, val = spy["data"], spy["val"]
    assert train.X.data_ptr() == val.X.data_ptr() == X.ctypes.data
    rows = torch.cat([train.index, val.index]).sort().values
    assert torch.equal(rows, torch.arange(len(X)))  # a partition of the rows
    assert len(val) == 30


def test_memmap_fit_equals_in_memory_fit(spy, tmp_path, X):
    X = X.astype(np.float32)
    path = tmp_path / "X.f32"
    mm = np.memmap(path, dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    del mm
    readonly = np.memmap(path, dtype=np.float32, mode="r", shape=X.shape)
    a = VAETransformer(2, **TINY).fit(X)
    b = VAETransformer(2, **TINY).fit(readonly)
    assert spy["data"].X.data_ptr() == readonly.ctypes.data  # read in place
    for pa, pb in zip(a.module_.parameters(), b.module_.parameters(), strict=True):
        assert torch.equal(pa, pb)
    np.testing.assert_array_equal(a.transform(X), b.transform(readonly))


def test_rows_serve_every_row_once_per_epoch_in_float32():
    X = torch.arange(20, dtype=torch.float64).reshape(10, 2)
    rows = Rows(X, "cpu", index=torch.tensor([1, 3, 5, 7, 9]))
    g = torch.Generator().manual_seed(0)
    batches = list(rows.batches(2, g))
    assert [len(b) for b in batches] == [2, 2, 1]
    assert all(b.dtype == torch.float32 for b in batches)
    seen = torch.cat(batches)[:, 0].sort().values
    assert torch.equal(seen, torch.tensor([2.0, 6.0, 10.0, 14.0, 18.0]))
    ordered = torch.cat(list(Rows(X, "cpu").batches(4)))  # no generator: in order
    assert torch.equal(ordered, X.float())


def test_mixed_precision_keeps_the_elbo_within_half_a_nat(X):
    full = VAETransformer(4, **{**TINY, "max_iter": 20}).fit(X)
    mixed = VAETransformer(4, **{**TINY, "max_iter": 20}, mixed_precision=True).fit(X)
    assert all(p.dtype == torch.float32 for p in mixed.module_.parameters())
    assert abs(full.score(X) - mixed.score(X)) < 0.5
    # The same weights evaluated under bfloat16 autocast: the loss moves little.
    x = torch.as_tensor(X, dtype=torch.float32)
    g = torch.Generator().manual_seed(0)
    ref = sum(elbo_terms(full.module_, full.likelihood_, x, generator=g)).mean()
    g = torch.Generator().manual_seed(0)
    with torch.autocast("cpu", torch.bfloat16):
        low = sum(elbo_terms(full.module_, full.likelihood_, x, generator=g)).mean()
    assert low.dtype == torch.float32
    assert abs(ref.item() - low.item()) < 0.5


def test_early_stopping_switched_on_for_a_warm_start_fit(X):
    vae = VAETransformer(2, **TINY, warm_start=True).fit(X)
    vae.set_params(early_stopping=True).fit(X)
    assert len(vae.validation_scores_) == 3 and vae.n_iter_ == 6


def _train_steps(step_fn, n_steps=5, **adam_kwargs):
    """Parameters and Adam state after a few steps of a small regression."""
    generator = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(6, 3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, **adam_kwargs)
    step = step_fn(optimizer)
    for _ in range(n_steps):
        x = torch.randn(8, 6, generator=generator)
        for p in model.parameters():
            p.grad = None
        model(x).square().sum().backward()
        step()
    state = [optimizer.state[p] for p in model.parameters()]
    return list(model.parameters()), state


def test_direct_fused_adam_step_equals_adam_step_bitwise():
    from skvae._optim import _direct_adam_matches, optimizer_step

    assert _direct_adam_matches()  # this torch takes the fast path
    fast_params, fast_state = _train_steps(optimizer_step, fused=True)
    ref_params, ref_state = _train_steps(lambda opt: opt.step, fused=True)
    for a, b in zip(fast_params, ref_params, strict=True):
        assert torch.equal(a, b)
    for a, b in zip(fast_state, ref_state, strict=True):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(a[key], b[key])


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda p: torch.optim.Adam(p, lr=1e-2),  # not fused
        lambda p: torch.optim.Adam(p, lr=1e-2, fused=True, amsgrad=True),
        lambda p: torch.optim.Adam(p, lr=1e-2, fused=True, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=1e-2),
    ],
)
def test_optimizer_step_falls_back_to_step_for_other_optimizers(optimizer):
    from skvae._optim import optimizer_step

    opt = optimizer(torch.nn.Linear(2, 2).parameters())
    assert optimizer_step(opt) == opt.step


def test_optimizer_step_honours_step_hooks():
    from skvae._optim import optimizer_step

    opt = torch.optim.Adam(torch.nn.Linear(2, 2).parameters(), lr=1e-2, fused=True)
    assert optimizer_step(opt) != opt.step
    opt.register_step_post_hook(lambda *args: None)
    assert optimizer_step(opt) == opt.step


