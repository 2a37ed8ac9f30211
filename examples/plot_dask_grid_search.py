"""
=========================================
Hyperparameter search on a dask cluster
=========================================

:class:`~sklearn.model_selection.GridSearchCV` hands its fits to joblib, and
joblib can hand them on to a `dask.distributed
<https://distributed.dask.org>`_ cluster: inside
``joblib.parallel_backend("dask")`` every (candidate, fold) fit of a
:class:`~skvae.VAETransformer` runs on one of the cluster's workers, while the
search itself, its bookkeeping and the final refit stay in this process.
Nothing in the estimator changes. Here the cluster is a
:class:`~distributed.LocalCluster` of two worker processes on this machine,
reached over the loopback interface only; on a real cluster only the line
that creates the :class:`~distributed.Client` changes.
"""

# %%
# The data and the candidates
# ---------------------------
# The digits images, pixels scaled to [0, 1] and modelled with a Bernoulli
# likelihood. Six candidates (latent size times network width) and 3 folds
# make 18 fits, scored by their held-out ELBO (``VAETransformer.score``), in
# nats per image: higher is better.
import warnings

import matplotlib.pyplot as plt
import numpy as np
import torch
from distributed import Client, LocalCluster
from joblib import parallel_backend
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from skvae import VAETransformer

# A few epochs per fit keep the example fast; the fits do not converge.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X = load_digits().data / 16
param_grid = {"n_components": [2, 4, 8], "hidden_layer_sizes": [(64,), (256,)]}
vae = VAETransformer(likelihood="bernoulli", max_iter=30, device="cpu", random_state=0)
search = GridSearchCV(vae, param_grid, cv=3, n_jobs=-1)

# %%
# Run the search on the cluster
# -----------------------------
# ``n_workers=2, threads_per_worker=1`` gives two worker processes of one
# thread each; ``n_jobs=-1`` lets joblib use every worker. Each worker process
# is started by a *nanny* that sets ``OMP_NUM_THREADS=1`` and
# ``MKL_NUM_THREADS=1`` before the process starts, so torch in the workers
# runs one intra-op thread and the workers do not oversubscribe the cores
# (``client.run`` asks every worker). :ref:`parallel` says more about threads,
# ``n_jobs`` and the dask backend.
#
# The workers are new Python processes started with multiprocessing's
# "spawn" method, which imports the main script again in each of them. The
# ``if __name__ == "__main__"`` guard keeps them from starting clusters of
# their own when this file runs as a script; every cell that needs the
# cluster or its results sits under it.
#
# On a real cluster, connect to its scheduler instead, for instance
# ``Client("tcp://scheduler-host:8786")``, and install skvae on every worker.
if __name__ == "__main__":
    cluster = LocalCluster(
        processes=True,
        n_workers=2,
        threads_per_worker=1,
        host="127.0.0.1",  # loopback only: nothing is reachable from outside
        dashboard_address=None,  # no web dashboard
    )
    with cluster, Client(cluster) as client:
        print("torch threads per worker:", client.run(torch.get_num_threads))
        with parallel_backend("dask"):
            search.fit(X)
    print("best parameters:", search.best_params_)
    print(f"best held-out ELBO: {search.best_score_:.2f} nats per image")

# %%
# The score of every candidate
# ----------------------------
# The mean held-out ELBO over the 3 folds, with its standard deviation across
# the folds as error bar; the chosen candidate is in blue. Within these few
# epochs the wider network explains held-out images clearly better, while the
# latent size matters less: its effect is of the order of the spread across
# folds.
if __name__ == "__main__":
    results = search.cv_results_
    labels = [
        f"n_components={p['n_components']}, hidden={p['hidden_layer_sizes']}"
        for p in results["params"]
    ]
    order = np.argsort(results["mean_test_score"])

    fig, ax = plt.subplots(figsize=(7, 3.4), layout="constrained")
    for row, i in enumerate(order):
        ax.errorbar(
            results["mean_test_score"][i],
            row,
            xerr=results["std_test_score"][i],
            fmt="o",
            capsize=4,
            color="C0" if i == search.best_index_ else "C7",
        )
    ax.set_yticks(range(len(order)), [labels[i] for i in order])
    ax.set_xlabel("mean held-out ELBO over 3 folds (nats per image)")
    ax.set_title("GridSearchCV on a dask LocalCluster")
    plt.show()
