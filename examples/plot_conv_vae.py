"""
=========================================
A convolutional VAE next to the MLP one
=========================================

``architecture="conv"`` replaces the fully connected encoder and decoder with
strided convolutions and transposed convolutions, which share their weights
across the image and see neighbouring pixels together. X stays a 2-D array of
flattened images; ``image_shape=(channels, height, width)`` says how to read
each row. This example fits both networks on the 8x8 digits with the same
latent size, likelihood and epochs, compares their held-out bound on the
log-likelihood, and shows prior samples and a latent interpolation from each
side by side.
"""

# %%
# Fit both models
# ---------------
# Pixel intensities are scaled to [0, 1] and modelled as Bernoulli
# probabilities. The convolutional model reads each row as a 1x8x8 image:
# two stride-2 convolutions (8x8 -> 4x4 -> 2x2) and a linear layer to the
# latent code, mirrored by the decoder.
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from skvae import ConvArchitecture, VAETransformer

X, y = load_digits(return_X_y=True)
X = X / 16.0
X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)

common = dict(n_components=8, likelihood="bernoulli", max_iter=60, random_state=0)
models = {
    "MLP (256, 128)": VAETransformer(**common),
    "conv (32, 64)": VAETransformer(
        architecture=ConvArchitecture(channels=(32, 64), kernel_size=4),
        image_shape=(1, 8, 8),
        **common,
    ),
}
for name, vae in models.items():
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        vae.fit(X_train)
    seconds = time.perf_counter() - start
    n_params = sum(p.numel() for p in vae.module_.parameters())
    print(
        f"{name}: {n_params:,} parameters, fit in {seconds:.1f} s, "
        f"held-out bound {vae.score(X_test, n_importance=100):.2f} nats per image"
    )

# %%
# Prior samples and an interpolation
# ----------------------------------
# The same latent draws from the prior N(0, I) decoded by each model, and the
# decoded straight path between the codes of a 0 and a 6.
n_samples, n_steps = 8, 8
start_row = np.flatnonzero(y == 0)[0]
end_row = np.flatnonzero(y == 6)[0]

fig, axes = plt.subplots(4, n_samples, figsize=(n_samples, 4.6))
for i, (name, vae) in enumerate(models.items()):
    samples = vae.sample(n_samples, random_state=0)
    path = vae.interpolate(X[[start_row]], X[[end_row]], n_steps=n_steps)[0]
    for j in range(n_samples):
        axes[2 * i, j].imshow(samples[j].reshape(8, 8), cmap="gray_r")
        axes[2 * i + 1, j].imshow(path[j].reshape(8, 8), cmap="gray_r")
    axes[2 * i, 0].set_title(f"{name}: prior samples", loc="left", fontsize=9)
    axes[2 * i + 1, 0].set_title(f"{name}: 0 -> 6", loc="left", fontsize=9)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
