"""The scores of a VAE's rows: the ELBO and the importance-weighted bound.

``VAETransformer.score_samples`` and ``score``, on the fitted module, its
likelihood and ``map_batches`` (see :class:`~skvae._base._BaseAutoencoder`).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._objectives import elbo_terms
from ._scoring import iwae_rows
from ._utils import row_normal_noise
from ._validation import check_count

# Activations per layer in one forward pass of the importance-weighted bound
# (8 MiB in float64): bounds memory whatever the number of draws.
_IWAE_VALUES = 2**20


class _RowBoundsMixin:
    """``score_samples`` and ``score`` of a fitted VAE."""

    def score_samples(self, X, *, n_importance=1):
        """Lower bound on log p(x) for each row, in nats.

        With ``n_importance=1`` this is the evidence lower bound (ELBO): the
        reconstruction term is estimated with one latent draw, the KL term is
        exact. With k > 1 it is the importance-weighted bound of Burda et al.
        (2016), ``log (1/k) sum_j p(x, z_j) / q(z_j | x)`` with z_j drawn
        from q(z | x), which rises towards log p(x) as k grows; k in the
        thousands gives the usual estimate of the test log-likelihood.

        The noise of every draw is derived from the row's values, so the
        result is deterministic and does not depend on which other rows are
        in X. Draws are processed in chunks, so memory stays bounded for any
        k; the k draws of a row are the first k of one stream, so a larger k
        reuses the draws of a smaller one.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        n_importance : int, default=1
            Number of importance samples k per row.

        Returns
        -------
        log_likelihood_bound : ndarray of shape (n_samples,)
            The bound for each row, in X's dtype.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvae import VAETransformer
        >>> X, _ = load_digits(return_X_y=True)
        >>> vae = VAETransformer(n_components=2, max_iter=2, random_state=0)
        >>> vae.fit(X / 16).score_samples(X[:5] / 16).shape
        (5,)
        >>> vae.score_samples(X[:5] / 16, n_importance=100).shape
        (5,)
        """
        check_is_fitted(self)
        check_count(n_importance, "n_importance")
        X = self._check_X(X, reset=False)
        if n_importance > 1:
            return self.map_batches(
                lambda m, x: iwae_rows(
                    m, self.likelihood_, x, n_importance, _IWAE_VALUES
                ),
                X,
            )
        eps = row_normal_noise(X, (self.module_.n_components,)).astype(X.dtype)

        def elbo(module, x, e):
            recon, kl = elbo_terms(module, self.likelihood_, x, eps=e)
            return -(recon + kl)

        return self.map_batches(elbo, X, eps)

    def score(self, X, y=None, *, n_importance=1):
        """Mean lower bound on log p(x) over the rows of X: higher is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency.
        n_importance : int, default=1
            Number of importance samples per row; 1 gives the mean ELBO, more
            give the tighter bound of :meth:`score_samples`.

        Returns
        -------
        score : float
            Mean of :meth:`score_samples`, in nats per row.
        """
        return float(np.mean(self.score_samples(X, n_importance=n_importance)))
