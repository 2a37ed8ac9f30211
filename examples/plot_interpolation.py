"""
================================
Interpolating between two digits
================================

Because a VAE's latent space is continuous, the path between the codes of
two digits decodes to a gradual transformation of one into the other.
:meth:`~skvae.VAETransformer.interpolate` encodes pairs of rows, places
evenly spaced points on the path between their latent means and decodes
them. The path is a straight line by default (``method="linear"``), or a
spherical one (``method="spherical"``) that keeps away from the origin, the
region between distant codes that a straight line crosses.
"""

# %%
# Fit a VAE
# ---------
# The same model as in the sampling example: eight latent components and a
# Gaussian likelihood, with a capped number of epochs.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from skvae import VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0

vae = VAETransformer(n_components=8, max_iter=200, early_stopping=True, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    vae.fit(X)

# %%
# Interpolate between pairs of digits
# -----------------------------------
# Row ``i`` of ``X_start`` is paired with row ``i`` of ``X_end``; the result
# has shape ``(n_pairs, n_steps, n_features)`` and both ends are included:
# ``paths[:, 0]`` and ``paths[:, -1]`` are the decodings of the two digits'
# latent means, i.e. their reconstructions. For each class, the digit used
# is a typical one: the digit whose code is closest to the mean code of its
# class.
codes = vae.transform(X)
typical = []
for digit in range(10):
    members = np.flatnonzero(y == digit)
    centre = codes[members].mean(axis=0)
    typical.append(members[np.argmin(np.linalg.norm(codes[members] - centre, axis=1))])

pairs = [(0, 6), (1, 7), (3, 8), (4, 9), (2, 5)]
start = [typical[a] for a, _ in pairs]
end = [typical[b] for _, b in pairs]
n_steps = 10

linear = vae.interpolate(X[start], X[end], n_steps=n_steps)
spherical = vae.interpolate(X[start], X[end], n_steps=n_steps, method="spherical")
print("paths:", linear.shape)

# %%
# How far from the origin do the paths go?
# ----------------------------------------
# Under the prior N(0, I) in d dimensions, most of the mass lies near the
# sphere of radius about sqrt(d), and codes of real digits have norms of
# that order; the origin itself is a point no digit is encoded to. The
# midpoint of a straight line between two codes is closer to the origin
# than either end, the more so the further apart they are. Spherical
# interpolation turns the direction along a great circle while the norm
# changes linearly from one end to the other.
norm_start = np.linalg.norm(codes[start], axis=1)
norm_end = np.linalg.norm(codes[end], axis=1)
midpoint = np.linalg.norm((codes[start] + codes[end]) / 2, axis=1)
for (a, b), n0, n1, nm in zip(pairs, norm_start, norm_end, midpoint, strict=True):
    print(
        f"{a} -> {b}: |z| at the ends {n0:.2f} and {n1:.2f}; "
        f"at the midpoint {nm:.2f} (linear), {(n0 + n1) / 2:.2f} (spherical)"
    )

# %%
# The paths
# ---------
# Each pair gets two rows: the straight line, then the spherical path. The
# first and last images of a row are the reconstructions of the two digits,
# framed by the originals. Both paths morph one digit into the other
# through shapes that look like handwriting rather than a cross-fade of two
# images. They differ in the middle, where the straight path cuts closer to
# the origin: from 2 to 5 it passes through 8-like shapes, the spherical path
# through a 2 that opens into a 5. With the few active components of this
# model the paths are never far apart; the difference grows with the number
# of latent dimensions, where the region around the origin is emptier still.
fig, axes = plt.subplots(
    2 * len(pairs), n_steps + 2, figsize=(9, 9.5), layout="constrained"
)
for p, (a, b) in enumerate(pairs):
    for row, (method, paths) in enumerate(
        [("linear", linear), ("spherical", spherical)]
    ):
        images = [X[start[p]], *paths[p], X[end[p]]]
        for k, (ax, image) in enumerate(zip(axes[2 * p + row], images, strict=True)):
            ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if k in (0, len(images) - 1):
                for spine in ax.spines.values():
                    spine.set_color("tab:red")
                    spine.set_linewidth(2)
        axes[2 * p + row, 0].set_ylabel(
            f"{a}->{b}\n{method}", rotation=0, ha="right", va="center"
        )
axes[0, 0].set_title("original")
axes[0, -1].set_title("original")
plt.show()
