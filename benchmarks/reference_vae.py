"""A plain PyTorch VAE to check skvae against.

The model is the classic MNIST VAE: 784 -> 400 -> (20 means, 20 log-variances)
with ReLU, a 20 -> 400 -> 784 decoder producing Bernoulli logits, the analytic
KL to N(0, I), Adam at 1e-3 and mini-batches of 128, in float32. It shares no
code with skvae on purpose: if the two agree, the ELBO and the training loop in
skvae are right.

Two deliberate differences from the usual script form of this model:

* the loss is summed over pixels and latent dimensions and *averaged* over the
  batch (nats per row) rather than summed over the batch. Adam is invariant to a
  constant scaling of the loss (up to its ``eps``), so the training is the same,
  and the numbers read directly as nats per row;
* every random draw (weights, shuffling, reparameterisation noise) comes from a
  local ``torch.Generator``; the global torch RNG is never seeded.

Usage::

    from reference_vae import train_reference, negative_elbo
    model, times = train_reference(X_train, n_epochs=10, batch_size=128, seed=0)
    print(negative_elbo(model, X_test))
"""

import math
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ReferenceVAE", "train_reference", "negative_elbo", "loss_terms"]


class ReferenceVAE(nn.Module):
    """Fully connected VAE with a Bernoulli decoder.

    Parameters
    ----------
    n_features : int, default=784
    n_hidden : int, default=400
    n_latent : int, default=20
    generator : torch.Generator, optional
        Source of the initial weights (same scheme as ``nn.Linear``'s default).
    """

    def __init__(self, n_features=784, n_hidden=400, n_latent=20, generator=None):
        super().__init__()
        # Allocate without initialising (nn.Linear would draw from the global
        # RNG), then draw every weight from ``generator``.
        with torch.device("meta"):
            self.enc_hidden = nn.Linear(n_features, n_hidden)
            self.enc_mu = nn.Linear(n_hidden, n_latent)
            self.enc_logvar = nn.Linear(n_hidden, n_latent)
            self.dec_hidden = nn.Linear(n_latent, n_hidden)
            self.dec_logits = nn.Linear(n_hidden, n_features)
        self.to_empty(device="cpu")
        self.init_weights(generator)

    @torch.no_grad()
    def init_weights(self, generator=None):
        """Re-draw all weights from ``generator`` the way ``nn.Linear`` does."""
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                # U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases alike.
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)

    def encode(self, x):
        """Mean and log-variance of q(z | x)."""
        h = F.relu(self.enc_hidden(x))
        return self.enc_mu(h), self.enc_logvar(h)

    def decode(self, z):
        """Bernoulli logits of p(x | z)."""
        return self.dec_logits(F.relu(self.dec_hidden(z)))

    def forward(self, x, noise):
        """Decode one reparameterised draw ``z = mu + exp(logvar / 2) * noise``."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * noise
        return self.decode(z), mu, logvar


def loss_terms(logits, x, mu, logvar):
    """Per-row reconstruction NLL and KL, in nats.

    ``-log p(x | z)`` is the binary cross-entropy of the logits summed over
    pixels; KL(N(mu, exp(logvar)) || N(0, I)) is
    ``-1/2 * sum(1 + logvar - mu^2 - exp(logvar))``.
    """
    recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=1)
    kl = -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
    return recon, kl


def train_reference(
    X_train, n_epochs=10, batch_size=128, seed=0, lr=1e-3, n_hidden=400, n_latent=20
):
    """Train a :class:`ReferenceVAE` with Adam on shuffled mini-batches.

    Parameters
    ----------
    X_train : ndarray or tensor of shape (n_rows, n_features), float32 in [0, 1]
    n_epochs : int
    batch_size : int
    seed : int
        Seeds one local ``torch.Generator`` for weights, shuffling and noise.
    lr : float
    n_hidden, n_latent : int
        Widths of the hidden layer and of the latent space.

    Returns
    -------
    model : ReferenceVAE
        In eval mode.
    history : list of dict
        Per epoch: ``loss`` (mean training negative ELBO over the epoch's
        batches, nats per row) and ``seconds``.
    """
    X = torch.as_tensor(np.asarray(X_train, dtype=np.float32))
    n_rows, n_features = X.shape
    gen = torch.Generator().manual_seed(int(seed))
    model = ReferenceVAE(n_features, n_hidden, n_latent, generator=gen)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in range(n_epochs):
        start_time = time.perf_counter()
        model.train()
        total = 0.0
        order = torch.randperm(n_rows, generator=gen)
        for start in range(0, n_rows, batch_size):
            x = X[order[start : start + batch_size]]
            noise = torch.randn(x.shape[0], model.enc_mu.out_features, generator=gen)
            logits, mu, logvar = model(x, noise)
            recon, kl = loss_terms(logits, x, mu, logvar)
            loss = (recon + kl).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * x.shape[0]
        history.append(
            {"loss": total / n_rows, "seconds": time.perf_counter() - start_time}
        )
    model.eval()
    return model, history


@torch.no_grad()
def negative_elbo(model, X, n_draws=1, seed=0, batch_size=10_000):
    """Mean negative ELBO of the rows of X, in nats per row.

    The KL term is exact; the reconstruction term is a Monte Carlo estimate
    averaged over ``n_draws`` reparameterised draws per row.

    Parameters
    ----------
    model : object with ``encode(x) -> (mu, logvar)`` and ``decode(z) -> logits``
        A :class:`ReferenceVAE`, or anything with the same two methods.
    X : ndarray or tensor of shape (n_rows, n_features), values in [0, 1]
    n_draws : int
    seed : int
        Seeds the local generator of the noise.
    batch_size : int
        Rows per forward pass (memory only).

    Returns
    -------
    float
    """
    X = torch.as_tensor(np.asarray(X, dtype=np.float32))
    gen = torch.Generator().manual_seed(int(seed))
    total = 0.0
    for start in range(0, X.shape[0], batch_size):
        x = X[start : start + batch_size]
        mu, logvar = model.encode(x)
        recon = torch.zeros(x.shape[0], dtype=torch.float64)
        for _ in range(n_draws):
            noise = torch.randn(mu.shape, generator=gen)
            logits = model.decode(mu + torch.exp(0.5 * logvar) * noise)
            r, kl = loss_terms(logits, x, mu, logvar)
            recon += r.double()
        total += (recon / n_draws + kl.double()).sum().item()
    return total / X.shape[0]
