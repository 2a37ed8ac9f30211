"""
===============================================
The latent space of an autoencoder and of a VAE
===============================================

Both models squeeze the 64 pixels of a digit into two numbers and learn to
rebuild the image from them. The plain
:class:`~skvae.AutoencoderTransformer` is trained on reconstruction alone and
encodes each digit as a point. The :class:`~skvae.VAETransformer` encodes
each digit as a small Gaussian cloud, and pays, through the KL term of its
ELBO, for every cloud that strays from the prior N(0, I). This example draws
both latent spaces, coloured by digit class, and decodes a regular grid of
points over each to show what lives between the training codes.
"""

# %%
# Fit both models
# ---------------
# The two estimators share their networks, likelihood, training loop and
# interface; only the loss differs. Pixels are scaled to [0, 1] and modelled
# with a Bernoulli likelihood.
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Circle, Ellipse
from sklearn.datasets import load_digits

from skvae import AutoencoderTransformer, VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0

params = dict(
    n_components=2,
    likelihood="bernoulli",
    max_iter=300,
    early_stopping=True,
    random_state=0,
)
models = {
    "autoencoder": AutoencoderTransformer(**params).fit(X),
    "VAE": VAETransformer(**params).fit(X),
}
codes = {name: model.transform(X) for name, model in models.items()}
for name, Z in codes.items():
    print(
        f"{name}: {models[name].n_iter_} epochs, codes span "
        f"[{Z[:, 0].min():.1f}, {Z[:, 0].max():.1f}] x "
        f"[{Z[:, 1].min():.1f}, {Z[:, 1].max():.1f}]"
    )

# %%
# The VAE's ``encode`` returns the standard deviation of each cloud as well as
# its centre (``transform`` returns only the centre, like the autoencoder's).
mean, std = models["VAE"].encode(X)
print(
    f"VAE: median standard deviation of q(z | x) per component: "
    f"{np.median(std, axis=0).round(2)}"
)

# %%
# Decode a grid over each latent space
# ------------------------------------
# ``inverse_transform`` decodes any latent point, not just the codes of
# training digits. A 15 x 15 grid spanning the central 98 % of each model's
# codes is decoded and the images are laid out as a mosaic at their latent
# coordinates.
n_grid = 15


def decoded_mosaic(model, Z):
    low, high = np.percentile(Z, [1, 99], axis=0)
    u = np.linspace(low[0], high[0], n_grid)
    v = np.linspace(low[1], high[1], n_grid)
    uu, vv = np.meshgrid(u, v[::-1])  # the top row of the mosaic has the largest v
    images = model.inverse_transform(np.column_stack([uu.ravel(), vv.ravel()]))
    images = images.reshape(n_grid, n_grid, 8, 8)
    # Pad every image with one white pixel, then tile them.
    images = np.pad(images, ((0, 0), (0, 0), (0, 1), (0, 1)))
    mosaic = images.transpose(0, 2, 1, 3).reshape(n_grid * 9, n_grid * 9)
    return mosaic, (low[0], high[0], low[1], high[1])


mosaics = {name: decoded_mosaic(models[name], Z) for name, Z in codes.items()}

# %%
# Compare
# -------
# Top: the codes of all 1,797 digits. Nothing tells the autoencoder where to
# put its codes or at what scale: they spread over a region many units wide,
# in arms of very different density. The VAE's codes stay within about two
# units of the origin, where its prior N(0, I) puts its mass (the dashed
# circles mark one and two prior standard deviations). The ellipses drawn for a few
# digits span one standard deviation of their q(z | x): the clouds of
# neighbouring digits overlap, so the decoder is trained on the space between
# the codes too, not only at the codes.
#
# Bottom: the decoded grids, over the rectangles drawn on the plots above.
# Both decoders are smooth functions, so both grids change gradually from
# cell to cell. The difference is where such a grid can be drawn: for the
# VAE it is known in advance, the region the prior covers, so a draw from
# N(0, I) decodes to a digit like these (see :ref:`the sampling example
# <sphx_glr_auto_examples_plot_sampling.py>`). For the autoencoder only the
# training codes say which region is meaningful, and their scale and shape
# change from one fit to the next.
fig, axes = plt.subplots(2, 2, figsize=(10, 10), layout="constrained")
for col, (name, Z) in enumerate(codes.items()):
    ax = axes[0, col]
    scatter = ax.scatter(Z[:, 0], Z[:, 1], c=y, cmap="tab10", s=6, alpha=0.8)
    mosaic, extent = mosaics[name]
    x0, x1, y0, y1 = extent
    ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="k", lw=0.8)
    if name == "VAE":
        rng = np.random.default_rng(0)
        for i in rng.choice(len(X), size=20, replace=False):
            ax.add_patch(
                Ellipse(
                    mean[i],
                    2 * std[i, 0],
                    2 * std[i, 1],
                    fill=False,
                    color=plt.cm.tab10(y[i]),
                    lw=0.8,
                )
            )
        for radius in (1, 2):
            ax.add_patch(
                Circle((0, 0), radius, fill=False, ls="--", color="0.3", zorder=3)
            )
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
    ax.set_title(f"{name}: codes of the digits")
    ax.set_xlabel("component 0")
    ax.set_ylabel("component 1")

    ax = axes[1, col]
    ax.imshow(mosaic, cmap="gray_r", vmin=0, vmax=1, extent=extent, aspect="auto")
    ax.set_title(f"{name}: decoded grid")
    ax.set_xlabel("component 0")
    ax.set_ylabel("component 1")

fig.colorbar(scatter, ax=axes[0, :], ticks=range(10), label="digit", shrink=0.8)
plt.show()
