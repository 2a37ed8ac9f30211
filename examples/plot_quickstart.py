"""
===========
Quick start
===========

Fit a :class:`~skvae.VAETransformer` on the handwritten digits bundled with
scikit-learn, then use it the two ways it can be used: as a transformer
(``transform`` to a small latent space and ``inverse_transform`` back), like
:class:`~sklearn.decomposition.PCA`, and as a generative model (``sample``
new digits and ``score`` held-out ones by their log-likelihood).
"""

# %%
# The data
# --------
# 1,797 images of 8 x 8 pixels with grey levels from 0 to 16. Divided by 16,
# every pixel lies in [0, 1], which suits a Bernoulli likelihood: the decoder
# outputs, for each pixel, the probability that it is "on". A quarter of the
# images is held out to score the model on data it has not seen.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)
print(X_train.shape, X_test.shape)

# %%
# Fit
# ---
# The estimator takes scikit-learn's usual arguments; ``max_iter`` counts
# epochs and ``early_stopping`` holds out 10 % of the training rows and stops
# when their loss no longer improves. ``random_state`` makes the run
# reproducible. Two latent components are enough to draw the latent space
# (see the next examples). The training loss is the negative ELBO in nats per
# image.
vae = VAETransformer(
    n_components=2,
    likelihood="bernoulli",
    max_iter=300,
    early_stopping=True,
    random_state=0,
)
vae.fit(X_train)
print(f"{vae.n_iter_} epochs, final training loss {vae.loss_curve_[-1]:.1f} nats")

# %%
# Transform and inverse transform
# -------------------------------
# ``transform`` returns the mean of the latent code of each image, a
# 2-dimensional embedding; ``inverse_transform`` decodes latent points back
# to images (the probability of every pixel being on). With so few
# components the nonlinear decoder reconstructs held-out digits better than
# PCA, the best *linear* projection.
Z_test = vae.transform(X_test)
X_rec = vae.inverse_transform(Z_test)
print("latent codes:", Z_test.shape, "reconstructions:", X_rec.shape)

pca = PCA(n_components=2).fit(X_train)
X_rec_pca = pca.inverse_transform(pca.transform(X_test))
print(
    f"held-out reconstruction MSE: VAE {np.mean((X_test - X_rec) ** 2):.4f}, "
    f"PCA {np.mean((X_test - X_rec_pca) ** 2):.4f}"
)

# %%
# Sample and score
# ----------------
# ``sample`` draws latent points from the prior N(0, I) and decodes them: new
# digits that are in no data set. ``score`` is the mean evidence lower bound
# (ELBO) of the rows, a lower bound on their log-likelihood in nats: higher
# is better, and a held-out score close to the training score means the model
# does not over-fit. It is what ``GridSearchCV`` uses to choose a model.
X_new = vae.sample(16, random_state=0)
print("samples:", X_new.shape)
print(f"mean ELBO: train {vae.score(X_train):.2f}, test {vae.score(X_test):.2f} nats")

# %%
# Everything in one figure
# ------------------------
# Held-out digits, their reconstructions by the VAE and by PCA, and digits
# sampled from the model, with the training curve on the right.
fig = plt.figure(figsize=(10, 4.5), layout="constrained")
grid, curve = fig.subfigures(1, 2, width_ratios=[2.2, 1])

rows = [
    ("held out", X_test),
    ("VAE", X_rec),
    ("PCA", X_rec_pca),
    ("sampled", X_new),
]
axes = grid.subplots(len(rows), 10)
for (label, images), ax_row in zip(rows, axes, strict=True):
    for image, ax in zip(images[: len(ax_row)], ax_row, strict=True):
        ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    ax_row[0].set_ylabel(label, rotation=0, ha="right", va="center")

ax = curve.subplots()
ax.plot(np.arange(1, vae.n_iter_ + 1), vae.loss_curve_, label="training")
ax.plot(
    np.arange(1, vae.n_iter_ + 1),
    [-s for s in vae.validation_scores_],
    label="validation",
)
ax.set_xlabel("epoch")
ax.set_ylabel("negative ELBO (nats per image)")
ax.legend()
plt.show()
