"""A default fit on digits, quiet and while one busy process runs.

The thread policy (``skvae._threads``) times training steps on one thread and
on torch's count and keeps the faster, so a fit should slow down about as
much as its share of the CPU shrinks, not many times more. This script
measures, in one process and one run:

* ``measured``: ``VAETransformer(max_iter=50, random_state=0).fit(digits)``
  with every other parameter at its default (the policy on);
* ``1 thread`` and ``N threads``: the same fit with the count fixed through
  ``SKVAE_NUM_THREADS`` (N is torch's count, 2 on the CI machine);

each quiet and then while one CPU-bound process (a pure-Python loop, as a
notebook or a browser tab would be) runs, alternating the variants, median
of ``--repeats`` fits each. It prints the medians, ``loaded / quiet`` for
each variant and the thread count the policy ended on. Target: the default
fit under load takes at most 2.5x its quiet time. From the repository root::

    python benchmarks/bench_threads_under_load.py
"""

import argparse
import multiprocessing
import os
import statistics
import time
import warnings

import torch
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skvae import VAETransformer


def spin(stop):
    x = 0
    while not stop.is_set():
        for _ in range(10_000):
            x += 1


def fit_once(X, threads):
    if threads is None:
        os.environ.pop("SKVAE_NUM_THREADS", None)
    else:
        os.environ["SKVAE_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = VAETransformer(max_iter=50, random_state=0, device="cpu").fit(X)
    return time.perf_counter() - start, est.n_threads_


def measure(X, variants, repeats):
    times = {name: [] for name in variants}
    chosen = {name: [] for name in variants}
    for _ in range(repeats):
        for name, threads in variants.items():
            seconds, n_threads = fit_once(X, threads)
            times[name].append(seconds)
            chosen[name].append(n_threads)
    return times, chosen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    X = load_digits().data / 16.0
    n = torch.get_num_threads()
    variants = {"measured": None, "1 thread": 1, f"{n} threads": n}
    saved = os.environ.get("SKVAE_NUM_THREADS")
    fit_once(X, None)  # warm up the process (imports, allocator)

    quiet, quiet_chosen = measure(X, variants, args.repeats)
    stop = multiprocessing.Event()
    busy = multiprocessing.Process(target=spin, args=(stop,), daemon=True)
    busy.start()
    try:
        time.sleep(0.5)
        loaded, loaded_chosen = measure(X, variants, args.repeats)
    finally:
        stop.set()
        busy.join()
        if saved is None:
            os.environ.pop("SKVAE_NUM_THREADS", None)
        else:
            os.environ["SKVAE_NUM_THREADS"] = saved

    print(f"digits, default VAETransformer, 50 epochs; torch threads: {n}; "
          f"median of {args.repeats}; os.cpu_count()={os.cpu_count()}")
    print(f"{'variant':<12} {'quiet s':>8} {'loaded s':>9} {'loaded/quiet':>13}"
          "  threads chosen (quiet | loaded)")
    for name in variants:
        q, ld = statistics.median(quiet[name]), statistics.median(loaded[name])
        print(f"{name:<12} {q:8.2f} {ld:9.2f} {ld / q:12.2f}x  "
              f"{quiet_chosen[name]} | {loaded_chosen[name]}")
    q = statistics.median(quiet["measured"])
    ld = statistics.median(loaded["measured"])
    print(f"target: measured loaded/quiet <= 2.5x: {ld / q:.2f}x "
          f"({'met' if ld / q <= 2.5 else 'missed'})")


if __name__ == "__main__":
    main()
