"""skvae's main demo: a variational autoencoder on scikit-learn's digits.

Trains a 2-D VAETransformer on 8x8 digit images, prints its held-out ELBO and
its held-out reconstruction error next to PCA's, and writes a figure of the
latent space and of generated digits (``quickstart.png``, or the path given as
the first argument). Runs on the CPU in about a minute.

It trains with the defaults: from 1,000 rows on, ``early_stopping="auto"``
holds out a tenth of the rows and stops once their ELBO has converged (the
last ``n_iter_no_change`` epochs set no new best, to within ``tol`` of its
progress so far) rather than after a fixed number of epochs, keeping the
best epoch's weights; ``max_iter`` is only a cap.
"""

import sys
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

from skvae import VAETransformer  # noqa: E402


def main(output="quickstart.png"):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0  # pixel intensities in [0, 1]
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

    start = time.perf_counter()
    vae = VAETransformer(n_components=2, random_state=0)
    vae.fit(X_train)
    seconds = time.perf_counter() - start
    pca = PCA(n_components=2).fit(X_train)

    def mse(model):
        return np.mean((X_test - model.inverse_transform(model.transform(X_test))) ** 2)

    print(f"VAE trained for {vae.n_iter_} epochs in {seconds:.1f} s on {vae.device_}")
    print(f"held-out ELBO (score):         VAE {vae.score(X_test):8.2f} nats/row")
    print(f"held-out reconstruction MSE:   VAE {mse(vae):.4f}   PCA {mse(pca):.4f}")

    fig = plt.figure(figsize=(11, 5))
    ax = fig.add_subplot(1, 2, 1)
    Z = vae.transform(X_test)
    points = ax.scatter(Z[:, 0], Z[:, 1], c=y_test, cmap="tab10", s=8)
    fig.colorbar(points, ax=ax, label="digit")
    ax.set(title="Latent means of held-out digits", xlabel="z0", ylabel="z1")

    samples = vae.sample(64, random_state=0).reshape(8, 8, 8, 8)
    padded = np.pad(samples, ((0, 0), (0, 0), (1, 1), (1, 1)))  # white borders
    grid = padded.transpose(0, 2, 1, 3).reshape(80, 80)
    ax = fig.add_subplot(1, 2, 2)
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1)
    ax.set(title="64 digits generated from the prior N(0, I)", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    print(f"figure written to {output}")


if __name__ == "__main__":
    main(*sys.argv[1:])
