"""Wall time of ``GridSearchCV(VAETransformer(...), n_jobs=2)`` against ``n_jobs=1``.

A grid of 4 candidates x 3 folds (12 fits of a digits-size VAE, 64-128-z) is
searched in this one process, alternately:

* ``n_jobs=1``, torch at its default thread count: what a user gets;
* ``n_jobs=1`` with ``torch.set_num_threads(1)``: the best sequential run for
  a model this small, the fair baseline;
* ``n_jobs=2`` on loky, joblib's default backend. joblib starts each worker
  with ``OMP_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to ``cpu_count //
  n_jobs`` (1 on 2 cores), and torch sizes its intra-op pool from them: the
  script prints the count seen inside the workers;
* ``n_jobs=2`` on the threading backend, which sets no inner limit: once with
  every worker thread at torch's default count, once after
  ``torch.set_num_threads(1)``, which the worker threads take up.

The searches run with ``refit=False``: the refit is one sequential fit in
the calling process, the same whatever ``n_jobs``, at that process's torch
thread count (left at the default, under contention it alone can take longer
than the parallel search).

The first loky call starts the workers (each imports torch); it is timed
separately as the cold start and left out of the medians, and the workers are
kept alive between runs. The script prints
each median wall time, the CPU seconds spent by this process and its workers
(with psutil), the ratios ``n_jobs=1 time / n_jobs=2 time`` (above 1: the
parallel search is faster) and the load average. On a shared machine the
wall times depend on what else runs: with the kernel's autogroup scheduling
one session's share of the CPUs is fixed while others keep them busy, and a
second worker cannot help then; equal CPU seconds show that the parallel
search did no extra work.

Run from the repository root::

    python benchmarks/bench_grid_search.py               # 3 rounds, 20 epochs
    python benchmarks/bench_grid_search.py --skip-default --repeats 7
"""

import argparse
import os
import statistics
import time
import warnings

import torch
from joblib import parallel_backend
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skvae import VAETransformer

PARAM_GRID = {"n_components": [2, 4], "beta": [0.5, 1.0]}


def _threads_scorer(estimator, X, y=None):
    """A scorer that reports torch's thread count where the fold is scored."""
    return float(torch.get_num_threads())


def _cpu_seconds():
    """CPU seconds of this process and its live children (nan without psutil)."""
    try:
        import psutil
    except ImportError:
        return float("nan")
    total = 0.0
    for proc in [psutil.Process(), *psutil.Process().children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def search(X, max_iter, n_jobs, backend="loky", scoring=None):
    """Run the grid search once; return its wall time and the search."""
    estimator = VAETransformer(
        hidden_layer_sizes=(128,),
        likelihood="bernoulli",
        max_iter=max_iter,
        early_stopping=False,  # fixed epochs: the timings compare like with like
        device="cpu",
        random_state=0,
    )
    # Keep idle loky workers alive between runs: with the default timeout (300 s)
    # a slow sequential run in between would get them restarted, and timed.
    kwargs = {"idle_worker_timeout": 3600} if backend == "loky" else {}
    start = time.perf_counter()
    with parallel_backend(backend, **kwargs):
        gs = GridSearchCV(
            estimator, PARAM_GRID, cv=3, n_jobs=n_jobs, scoring=scoring, refit=False
        )
        gs.fit(X)
    return time.perf_counter() - start, gs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-iter", type=int, default=20, help="epochs per fit")
    parser.add_argument(
        "--skip-default",
        action="store_true",
        help="leave out n_jobs=1 at torch's default thread count (slow when "
        "other programs keep the cores busy)",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    X = load_digits().data / 16
    default_threads = torch.get_num_threads()
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, torch default "
        f"{default_threads} threads; {len(PARAM_GRID['n_components']) * 2} "
        f"candidates x 3 folds, digits {X.shape}, max_iter={args.max_iter}, "
        f"load average before {os.getloadavg()[0]:.1f}"
    )

    cold, gs = search(X, args.max_iter, 2, scoring=_threads_scorer)
    inner = sorted({int(s) for s in gs.cv_results_["mean_test_score"]})
    print(
        f"loky cold start (workers spawned): {cold:.2f} s; torch threads "
        f"inside the loky workers: {inner}",
        flush=True,
    )
    search(X, 1, 1)  # warm the main process as well

    cases = {  # key: (label, n_jobs, backend, torch threads in this process)
        "seq_default": (
            f"n_jobs=1, torch {default_threads} threads (default)",
            1,
            "loky",
            default_threads,
        ),
        "seq_1thread": ("n_jobs=1, torch.set_num_threads(1)", 1, "loky", 1),
        "loky2": ("n_jobs=2, loky (default backend)", 2, "loky", default_threads),
        "threading2": (
            f"n_jobs=2, threading, torch {default_threads} threads",
            2,
            "threading",
            default_threads,
        ),
        "threading2_1thread": (
            "n_jobs=2, threading, torch.set_num_threads(1)",
            2,
            "threading",
            1,
        ),
    }
    if args.skip_default:
        del cases["seq_default"]
    times = {key: [] for key in cases}
    cpu = {key: [] for key in cases}
    for _ in range(args.repeats):
        for key, (_, n_jobs, backend, threads) in cases.items():
            # Threads started after set_num_threads (joblib's) take up the count.
            torch.set_num_threads(threads)
            try:
                cpu_start = _cpu_seconds()
                times[key].append(search(X, args.max_iter, n_jobs, backend)[0])
                cpu[key].append(_cpu_seconds() - cpu_start)
            finally:
                torch.set_num_threads(default_threads)
            print(f"  {key}: {times[key][-1]:.2f} s", flush=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"median of {args.repeats} runs; CPU s = this process and its workers")
    for key, (label, *_) in cases.items():
        runs = " ".join(f"{t:.2f}" for t in times[key])
        cpu_s = statistics.median(cpu[key])
        print(f"  {label:<48} {med[key]:7.2f} s  CPU {cpu_s:6.2f} s  [{runs}]")
    print("ratio n_jobs=1 / n_jobs=2 (loky), above 1 = parallel faster:")
    if "seq_default" in med:
        print(f"  {med['seq_default'] / med['loky2']:.2f} against the default n_jobs=1")
    print(f"  {med['seq_1thread'] / med['loky2']:.2f} against n_jobs=1 on one thread")
    print(
        "ratio n_jobs=1 / n_jobs=2 (threading, one torch thread each), "
        f"both on one thread: {med['seq_1thread'] / med['threading2_1thread']:.2f}"
    )
    print(f"load average after {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
