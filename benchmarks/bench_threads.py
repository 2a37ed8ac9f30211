"""How much a second torch thread speeds up fit and transform, by model size.

Calibrates ``skvae._threads.SMALL_STEP_MACS``, the size below which
data-parallel ``fit`` trains on one thread (a plain ``fit`` measures the
faster count instead, see ``bench_threads_under_load.py``). Each count is
fixed here through ``SKVAE_NUM_THREADS`` so that both really run.

* fit: ``VAETransformer(8, hidden_layer_sizes=(h, h))`` on 4,096 random rows
  of 100 features, batch 128, 3 epochs, median of 3 fits per thread count;
  multiply-adds per step as ``skvae._threads.step_macs`` counts them.
* transform: float64 ``transform`` of 16 to 4,096 rows through a digits-size
  (64-128-10) and an MNIST-size (784-400-10) model, best of 5 x 20 calls.

Each line prints both times and ``speed-up = 1 thread / 2 threads``. Run on a
quiet machine from the repository root::

    python benchmarks/bench_threads.py
"""

import os
import statistics
import time
import timeit
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skvae import VAETransformer
from skvae._threads import step_macs


def fit_times(X, hidden):
    times = {}
    for threads in (1, 2):
        os.environ["SKVAE_NUM_THREADS"] = str(threads)
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            vae = VAETransformer(
                8,
                hidden_layer_sizes=(hidden, hidden),
                batch_size=128,
                max_iter=3,
                early_stopping=False,
                device="cpu",
                random_state=0,
            ).fit(X)
            runs.append(time.perf_counter() - start)
        times[threads] = statistics.median(runs)
    return step_macs(vae.module_, 128), times


def transform_times(vae, X):
    times = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        calls = timeit.repeat(lambda: vae.transform(X), number=20, repeat=5)
        times[threads] = min(calls) / 20
    return times


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    before = torch.get_num_threads()
    X = np.random.RandomState(0).rand(4096, 100).astype(np.float32)
    print("fit, 3 epochs of 4,096 rows x 100 features, batch 128, median of 3")
    for hidden in (64, 128, 256, 384, 512):
        macs, t = fit_times(X, hidden)
        print(
            f"  hidden {hidden:4d}: {macs / 1e6:6.1f}M multiply-adds per step   "
            f"1 thread {t[1]:6.3f} s   2 threads {t[2]:6.3f} s   "
            f"speed-up {t[1] / t[2]:4.2f}x"
        )
    print("transform (float64), best of 5 x 20 calls")
    for n_features, hidden in ((64, 128), (784, 400)):
        X = np.random.RandomState(0).rand(4096, n_features)
        torch.set_num_threads(before)
        vae = VAETransformer(
            10, hidden_layer_sizes=(hidden,), max_iter=1, device="cpu", random_state=0
        ).fit(X[:500])
        for rows in (16, 128, 512, 4096):
            t = transform_times(vae, X[:rows])
            print(
                f"  {n_features}-{hidden}-10, {rows:4d} rows: 1 thread "
                f"{t[1] * 1e3:7.3f} ms   2 threads {t[2] * 1e3:7.3f} ms   "
                f"speed-up {t[1] / t[2]:4.2f}x"
            )
    torch.set_num_threads(before)


if __name__ == "__main__":
    main()
