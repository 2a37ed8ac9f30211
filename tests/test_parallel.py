"""Hyperparameter search in parallel: joblib processes, threads and dask.

Parallel searches must give the sequential search's scores, and torch inside
joblib's worker processes must run no more intra-op threads than joblib's
inner limit (``cpu_count // n_jobs`` unless set), or the workers oversubscribe
the cores. Timings are measured in ``benchmarks/bench_grid_search.py``, not
asserted here.
"""

import os

import joblib
import numpy as np
import pytest
import torch
from joblib import parallel_backend, parallel_config
from numpy.testing import assert_allclose
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from skvae import BernoulliLikelihood, VAETransformer

PARAM_GRID = {"n_components": [2, 3], "beta": [0.5, 1.0]}


class ThreadProbeLikelihood(BernoulliLikelihood):
    """A Bernoulli likelihood that records torch's thread count while training."""

    def log_prob(self, params, x):
        self.__dict__.setdefault("threads_seen", set()).add(torch.get_num_threads())
        return super().log_prob(params, x)

    def get_params(self, deep=True):
        return {}  # the record is no constructor argument


def threads_seen(estimator, X, y=None):
    """Scorer: the most torch threads the fold's fit ran with, in its worker."""
    return float(max(estimator.likelihood_.threads_seen))


def elbo(estimator, X, y=None):
    """Scorer: the estimator's own score, the mean held-out ELBO."""
    return estimator.score(X)


def make_search(n_jobs):
    """A 4-candidate x 3-fold search scored by held-out ELBO and torch threads."""
    vae = VAETransformer(
        hidden_layer_sizes=(16,),
        likelihood=ThreadProbeLikelihood(),
        max_iter=3,
        device="cpu",
        random_state=0,
    )
    scoring = {"elbo": elbo, "threads": threads_seen}
    return GridSearchCV(
        vae, PARAM_GRID, cv=3, n_jobs=n_jobs, scoring=scoring, refit="elbo"
    )


@pytest.fixture(scope="module")
def X():
    return load_digits().data[:300] / 16


@pytest.fixture(scope="module")
def sequential(X):
    return make_search(n_jobs=1).fit(X).cv_results_


@pytest.fixture(scope="module")
def loky(X):
    with parallel_backend("loky"):
        return make_search(n_jobs=2).fit(X).cv_results_


def assert_same_scores(results, expected):
    for key in ["mean_test_elbo", "std_test_elbo", "rank_test_elbo"] + [
        f"split{i}_test_elbo" for i in range(3)
    ]:
        assert_allclose(results[key], expected[key], rtol=1e-5, err_msg=key)
    assert results["params"] == expected["params"]


def test_loky_n_jobs_2_matches_sequential(loky, sequential):
    assert_same_scores(loky, sequential)


def test_torch_threads_in_loky_workers_follow_joblib_limit(loky):
    # joblib starts each worker with OMP_NUM_THREADS set to its inner limit,
    # cpu_count // n_jobs unless the variable is set here, and torch sizes its
    # intra-op pool from it: the fits ran with that many threads.
    limit = os.environ.get("OMP_NUM_THREADS", max(joblib.cpu_count() // 2, 1))
    assert_allclose(loky["mean_test_threads"], int(limit))


def test_torch_threads_in_loky_workers_follow_explicit_limit(X):
    with parallel_config(backend="loky", inner_max_num_threads=2):
        results = make_search(n_jobs=2).fit(X).cv_results_
    assert_allclose(results["mean_test_threads"], 2)


def test_threading_backend_matches_sequential(X, sequential):
    # Threads share the process: fits must not step on each other's state.
    with parallel_backend("threading"):
        results = make_search(n_jobs=2).fit(X).cv_results_
    assert_same_scores(results, sequential)
    # joblib sets no inner thread limit for threads; the worker threads run
    # torch with the process's count, which torch.set_num_threads (called in
    # conftest.py, or by the user before the search) sets.
    assert_allclose(results["mean_test_threads"], torch.get_num_threads())


@pytest.fixture
def restore_nanny_environ():
    """Undo the nanny's changes to this process's environment.

    Before it spawns a worker, a dask nanny sets ``OMP_NUM_THREADS=1`` and the
    other ``distributed.nanny.pre-spawn-environ`` variables in its own
    process, here the test process, where they would outlive the test.
    """
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    names = dask.config.get("distributed.nanny.pre-spawn-environ")
    saved = {name: os.environ.get(name) for name in names}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def test_dask_backend_on_local_cluster(X, sequential, restore_nanny_environ):
    import distributed

    cluster = distributed.LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",  # loopback only
        dashboard_address=None,
    )
    with cluster, distributed.Client(cluster) as client:
        with parallel_backend("dask"):
            search = make_search(n_jobs=-1).fit(X)
        workers = client.run(os.getpid)
    results = search.cv_results_
    assert_same_scores(results, sequential)
    # Each dask worker process runs torch on one thread (the nanny sets
    # OMP_NUM_THREADS=1 before it starts the worker).
    assert_allclose(results["mean_test_threads"], 1)
    assert len(workers) == 2
    # The refit ran in this process: the chosen model is usable here.
    assert search.best_estimator_.transform(X[:5]).shape[0] == 5
    assert np.isfinite(search.best_score_)
