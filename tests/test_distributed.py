"""Data-parallel fit with torch.distributed: 2 CPU processes, gloo, loopback.

One pair of worker processes (started once for the module, as ``torchrun``
would start them: ``MASTER_ADDR``, ``MASTER_PORT``, ``WORLD_SIZE``, ``RANK``)
runs every scenario on unequal shards of the digits and pickles what it
fitted; the tests compare the ranks' results with each other and with
single-process fits here. A hang fails the fixture after a timeout instead
of blocking the run.
"""

import os
import pickle
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from skvae import AutoencoderTransformer, VAEModule, VAETransformer
from skvae._objectives import elbo_terms
from skvae._parallel import data_parallel_world

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180  # seconds for the whole worker pair; a normal run takes ~20 s
SPLIT = 1200  # rank 0 gets the first 1200 digits, rank 1 the other 597
# (no held-out rows unless a scenario asks: they change the steps per epoch)
TINY = dict(
    hidden_layer_sizes=(16,), batch_size=64, device="auto", early_stopping=False
)

WORKER = r"""
import os, pickle, sys
from datetime import timedelta

import torch
import torch.distributed as dist

torch.set_num_threads(1)
dist.init_process_group("gloo", timeout=timedelta(seconds=60))
rank = dist.get_rank()

from sklearn.datasets import load_digits
from skvae import AutoencoderTransformer, VAETransformer

X = load_digits().data / 16
SPLIT, TINY = {split}, {tiny}
shard = X[:SPLIT] if rank == 0 else X[SPLIT:]
out = {{}}

# Different seeds per rank: the weights must still start from rank 0's.
out["fit"] = VAETransformer(2, max_iter=3, random_state=rank, **TINY).fit(shard)

# The importance-weighted objective, through the same DDP wrapper.
out["iwae"] = VAETransformer(
    2, max_iter=2, n_importance_train=3, random_state=rank, **TINY
).fit(shard)

# The latent mixture: fitted on rank 0's shard, given to every rank.
out["mixture"] = VAETransformer(
    2, max_iter=2, latent_density="mixture", random_state=rank, **TINY
).fit(shard)
out["mixture_rows"] = out["mixture"].sample(5, random_state=0)

out["early"] = VAETransformer(
    2, max_iter=100, n_iter_no_change=1, tol=1.0, learning_rate_init=1e-2,
    random_state=0, **dict(TINY, early_stopping=True),
).fit(shard)

# "auto" decides by the rows of all shards: rank 1's 597 alone would not hold
# any out, so disagreeing ranks would hang or raise.
out["auto"] = VAETransformer(
    2, max_iter=3, random_state=0, **dict(TINY, early_stopping="auto")
).fit(shard)

# Data-aware start: the moments of all shards, whatever this rank holds.
from skvae import BernoulliLikelihood
from skvae._init import data_moments
from skvae._training import Rows
moments = data_moments(Rows(torch.as_tensor(shard), "cpu"), BernoulliLikelihood())
out["moments"] = (moments.count, moments.total, moments.sum_sq)
start = VAETransformer(2, likelihood="bernoulli", learning_rate_init=1e-30,
                       random_state=rank, **TINY).partial_fit(shard)
out["start_bias"] = start.module_.decoder[-1].bias.detach().clone()

# A full batch per step: must match one process fitting all the rows.
out["full_batch"] = AutoencoderTransformer(
    2, hidden_layer_sizes=(16,), batch_size=4096, max_iter=3,
    learning_rate_init=1e-2, random_state=0, device="cpu", early_stopping=False,
).fit(shard)

# Weights that barely move: the epoch loss is that of the initial weights.
out["frozen"] = AutoencoderTransformer(
    2, learning_rate_init=1e-12, random_state=rank, **TINY
).partial_fit(shard)

# Rank 1 has 5 rows and rank 0 1000: rank 1 steps on empty batches.
tiny_shard = X[:1000] if rank == 0 else X[1000:1005]
vae = VAETransformer(2, random_state=0, **TINY)
for _ in range(2):
    vae.partial_fit(tiny_shard)
out["tiny_shard"] = vae

# Ctrl-C in the same step everywhere: last epoch restored, then raised again.
from skvae import GaussianLikelihood

class Interrupting(GaussianLikelihood):
    calls = 0

    def log_prob(self, params, x):
        type(self).calls += 1
        if type(self).calls == 25:  # in the second epoch (19 steps each)
            raise KeyboardInterrupt
        return super().log_prob(params, x)

vae = VAETransformer(2, max_iter=3, likelihood=Interrupting(), random_state=0, **TINY)
try:
    vae.fit(shard)
except KeyboardInterrupt:
    out["interrupt"] = {{k: v.clone() for k, v in vae.module_.state_dict().items()}}

try:
    VAETransformer(2, max_iter=2 + rank, random_state=0, **TINY).fit(shard)
except ValueError as exc:
    out["mismatch"] = str(exc)

with open(sys.argv[1], "wb") as f:
    pickle.dump(out, f)
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)  # skip the slow interpreter teardown; all collectives are done
"""


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def X():
    return load_digits().data / 16


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """What each of the two ranks fitted, by scenario."""
    tmp = tmp_path_factory.mktemp("ddp")
    script = tmp / "worker.py"
    script.write_text(WORKER.format(split=SPLIT, tiny=TINY))
    env = dict(os.environ)
    env.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(_free_port()),
        WORLD_SIZE="2",
        # gloo would otherwise pick the interface the host name resolves to
        GLOO_SOCKET_IFNAME="lo0" if sys.platform == "darwin" else "lo",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    procs = []
    for rank in range(2):
        env_rank = dict(env, RANK=str(rank), LOCAL_RANK=str(rank))
        procs.append(
            subprocess.Popen(
                [sys.executable, str(script), str(tmp / f"rank{rank}.pkl")],
                env=env_rank,
                cwd=tmp,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    deadline = time.monotonic() + TIMEOUT
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=max(1, deadline - time.monotonic()))
            outputs.append(out)
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        logs = [proc.communicate()[0] for proc in procs]
        pytest.fail(f"workers hung for {TIMEOUT} s:\n" + "\n".join(logs)[-4000:])
    for rank, (proc, out) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{out[-4000:]}"
    results = []
    for rank in range(2):
        with open(tmp / f"rank{rank}.pkl", "rb") as f:
            results.append(pickle.load(f))
    return results


def _weights(estimator):
    return {k: v.detach().cpu() for k, v in estimator.module_.state_dict().items()}


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for key in wa:
        assert torch.equal(wa[key], wb[key]), key


@pytest.mark.parametrize(
    "scenario",
    ["fit", "iwae", "mixture", "early", "auto", "full_batch", "tiny_shard"],
)
def test_ranks_end_with_identical_weights(ranks, scenario):
    a, b = ranks[0][scenario], ranks[1][scenario]
    _assert_same_weights(a, b)
    assert a.history_ == b.history_
    assert a.n_iter_ == b.n_iter_
    if hasattr(a, "kl_per_component_"):
        np.testing.assert_array_equal(a.kl_per_component_, b.kl_per_component_)


def test_ranks_share_the_first_ranks_latent_mixture(ranks):
    a, b = ranks[0]["mixture"].latent_mixture_, ranks[1]["mixture"].latent_mixture_
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    np.testing.assert_array_equal(ranks[0]["mixture_rows"], ranks[1]["mixture_rows"])


def test_data_moments_are_all_reduced_so_ranks_start_identical(ranks, X):
    for rank in range(2):
        count, total, sum_sq = ranks[rank]["moments"]
        np.testing.assert_array_equal(count.numpy(), np.full(64, len(X)))
        np.testing.assert_allclose(total.numpy(), X.sum(0), rtol=1e-12)
        np.testing.assert_allclose(sum_sq.numpy(), (X**2).sum(0), rtol=1e-12)
    a, b = ranks[0]["start_bias"], ranks[1]["start_bias"]
    assert torch.equal(a, b)
    p = np.clip(X.mean(0), 1e-3, 1 - 1e-3)  # all rows', not rank 0's
    np.testing.assert_allclose(a.numpy(), np.log(p / (1 - p)), atol=1e-4)


def test_fitted_estimator_holds_the_plain_module(ranks):
    fitted = ranks[0]["fit"]
    assert type(fitted.module_) is VAEModule
    assert not any(k.startswith("module.") for k in fitted.module_.state_dict())
    assert fitted.transform(load_digits().data[:3] / 16).shape == (3, 2)


def test_result_differs_from_an_unsynchronised_run_of_rank_0(ranks, X):
    alone = VAETransformer(2, max_iter=3, random_state=0, **TINY).fit(X[:SPLIT])
    synced = ranks[0]["fit"]
    assert any(
        not torch.allclose(w, _weights(synced)[k], atol=1e-3)
        for k, w in _weights(alone).items()
    )
    assert alone.history_[0]["loss"] != synced.history_[0]["loss"]


def test_full_batch_steps_equal_one_process_on_all_rows(ranks, X):
    """Each step's gradient is the mean over both shards' rows, weighted by row."""
    alone = AutoencoderTransformer(
        2,
        hidden_layer_sizes=(16,),
        batch_size=4096,
        max_iter=3,
        learning_rate_init=1e-2,
        random_state=0,
        device="cpu",
        early_stopping=False,
    ).fit(X)
    synced = ranks[0]["full_batch"]
    for key, w in _weights(alone).items():
        torch.testing.assert_close(_weights(synced)[key], w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(synced.loss_curve_, alone.loss_curve_, rtol=1e-5)


def test_history_loss_is_the_global_mean(ranks, X):
    fitted = ranks[0]["frozen"]
    x = torch.as_tensor(X, dtype=torch.float32)
    with torch.no_grad():
        recon, _ = elbo_terms(fitted.module_, fitted.likelihood_, x, variational=False)
    loss, error = fitted.history_[0]["loss"], lambda mean: abs(loss - mean.item())
    assert error(recon.mean()) < 1e-5 * loss
    # not either rank's own mean
    assert error(recon.mean()) * 100 < min(
        error(recon[:SPLIT].mean()), error(recon[SPLIT:].mean())
    )


def test_early_stopping_stops_every_rank_at_the_same_epoch(ranks):
    a, b = ranks[0]["early"], ranks[1]["early"]
    assert a.n_iter_ == b.n_iter_ < 100
    assert [r["val_loss"] for r in a.history_] == [r["val_loss"] for r in b.history_]
    assert a.best_validation_score_ == b.best_validation_score_


def test_auto_early_stopping_is_agreed_from_the_rows_of_every_rank(ranks):
    a, b = ranks[0]["auto"], ranks[1]["auto"]
    assert len(a.validation_scores_) == len(b.validation_scores_) == a.n_iter_
    assert a.validation_scores_ == b.validation_scores_


def test_unequal_shards_do_not_hang(ranks):
    for rank in ranks:
        assert rank["tiny_shard"].n_iter_ == 2
        assert np.isfinite(rank["tiny_shard"].loss_curve_).all()


def test_interrupt_restores_the_same_epoch_everywhere_and_is_raised(ranks):
    a, b = ranks[0]["interrupt"], ranks[1]["interrupt"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_differing_parameters_raise_on_every_rank(ranks):
    for rank in ranks:
        assert "n_epochs" in rank["mismatch"]


def test_single_process_is_not_data_parallel():
    assert data_parallel_world() == (0, 1)
