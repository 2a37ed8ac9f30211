"""
===========================================================
Choosing the model by held-out likelihood, then classifying
===========================================================

``VAETransformer.score`` is the mean evidence lower bound (ELBO) of the rows
it is given, a lower bound on their log-likelihood. Like ``PCA.score`` or
``GaussianMixture.score`` it needs no labels, so
:class:`~sklearn.model_selection.GridSearchCV` can choose ``n_components``
and ``beta`` by how well the model explains held-out rows. Inside a
:class:`~sklearn.pipeline.Pipeline` the VAE is just another step: here the
chosen model then feeds its latent codes to a logistic regression.
"""

# %%
# The data and the pipeline
# -------------------------
# A quarter of the digits is kept aside for the final test. The pipeline
# scales the pixels to [0, 1] (clipping, so that held-out rows stay inside
# the range a Bernoulli likelihood accepts) and fits a small VAE.
import warnings

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skvae import VAETransformer

# Training is capped at a few epochs per fit to keep the example fast.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

pipe = Pipeline(
    [
        ("scale", MinMaxScaler(clip=True)),
        (
            "vae",
            VAETransformer(
                hidden_layer_sizes=(128,),
                likelihood="bernoulli",
                max_iter=60,
                random_state=0,
            ),
        ),
    ]
)

# %%
# Grid search by held-out ELBO
# ----------------------------
# ``GridSearchCV`` without ``scoring`` calls the pipeline's ``score``, which
# scales the held-out fold and returns the VAE's mean ELBO on it, in nats
# per image. No label is used.
param_grid = {"vae__n_components": [2, 4, 8], "vae__beta": [0.5, 1.0, 2.0]}
search = GridSearchCV(pipe, param_grid, cv=2)
search.fit(X_train)
print("best parameters:", search.best_params_)
print(f"best held-out ELBO: {search.best_score_:.2f} nats per image")

results = pd.DataFrame(search.cv_results_)
table = results.pivot(
    index="param_vae__n_components", columns="param_vae__beta", values="mean_test_score"
)
print(table.round(2))

# %%
# Two things to read in the table. Along ``n_components`` the held-out ELBO
# peaks and then declines slowly: too few latent dimensions cannot describe
# the images, and beyond the peak the extra capacity fits the training folds
# a little better than new images. Latent dimensions that the data do not
# need collapse to the prior (their KL falls to zero), which keeps that
# decline mild. Along ``beta`` the best value is 1: only with ``beta=1`` does
# training maximise the ELBO, the very quantity ``score`` measures; other
# values trade likelihood for a smoother (``beta > 1``) or sharper
# (``beta < 1``) latent space, which a likelihood-based search cannot
# reward. Select ``beta`` by ``score`` only when likelihood is what you want.
best_vae = search.best_estimator_.named_steps["vae"]
print(
    f"active components of the chosen model: {best_vae.n_active_components_} "
    f"of {best_vae.n_components}"
)

# %%
# A classifier on the latent codes
# --------------------------------
# The selected pipeline, refitted by the search on all training rows, was
# fitted without labels; its codes (``transform`` returns the latent means)
# go to a logistic regression. Wrapped in
# :class:`~sklearn.frozen.FrozenEstimator`, it is used as it is rather than
# trained again when the classifier is fitted. As baselines, the same
# classifier on PCA codes of the same size and on the raw pixels.
n_components = search.best_params_["vae__n_components"]
classifiers = {
    "VAE codes": Pipeline(
        [
            ("vae", FrozenEstimator(search.best_estimator_)),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    ),
    "PCA codes": Pipeline(
        [
            ("scale", MinMaxScaler(clip=True)),
            ("pca", PCA(n_components=n_components)),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    ),
    "raw pixels": Pipeline(
        [("scale", StandardScaler()), ("clf", LogisticRegression(max_iter=2000))]
    ),
}
accuracy = {}
for name, clf in classifiers.items():
    clf.fit(X_train, y_train)
    accuracy[name] = clf.score(X_test, y_test)
    print(f"{name:>10}: test accuracy {accuracy[name]:.3f}")

# %%
# Results
# -------
# Left: the mean held-out ELBO of each candidate (higher is better), with the
# chosen one circled. Right: test accuracy of the classifiers. Both kinds of
# codes keep much of what separates the classes, far from all of it: the
# search chose the model that best explains the *images*, with no regard for
# the labels, and a handful of codes is a strong compression of 64 pixels.
# When classification is the goal, the pipeline's ``n_components`` can be
# tuned by accuracy instead, with ``GridSearchCV(..., scoring="accuracy")``
# on ``(X, y)``.
fig, (ax_search, ax_clf) = plt.subplots(
    1, 2, figsize=(11, 4.2), width_ratios=[1.3, 1], layout="constrained"
)
for beta, column in table.items():
    ax_search.plot(table.index, column, marker="o", label=f"beta={beta}")
ax_search.scatter(
    [search.best_params_["vae__n_components"]],
    [search.best_score_],
    s=250,
    facecolors="none",
    edgecolors="k",
    label="chosen",
)
ax_search.set_xscale("log", base=2)
ax_search.set_xticks(table.index, table.index)
ax_search.set_xlabel("n_components")
ax_search.set_ylabel("mean held-out ELBO (nats per image)")
ax_search.set_title("GridSearchCV by score")
ax_search.legend()

names = list(accuracy)
bars = ax_clf.barh(names, [accuracy[n] for n in names], color=["C0", "C1", "C7"])
ax_clf.bar_label(bars, fmt="%.3f", padding=3)
ax_clf.set_xlim(0.5, 1.05)
ax_clf.set_xlabel("test accuracy of LogisticRegression")
ax_clf.set_title(f"classifying on {n_components} codes")
plt.show()
