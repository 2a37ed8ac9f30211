"""VAETransformer: the scikit-learn face of the variational autoencoder."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from ._base import _BaseAutoencoder
from ._training import elbo_terms
from ._utils import make_generator, row_normal_noise


class VAETransformer(_BaseAutoencoder):
    """Variational autoencoder as a scikit-learn transformer.

    The encoder maps each row x to a Gaussian q(z | x) = N(mu, sigma^2) over
    ``n_components`` latent dimensions; the decoder maps a latent z back to
    the parameters of p(x | z). Training maximises the evidence lower bound
    (ELBO), ``E_q[log p(x | z)] - beta * KL(q(z | x) || N(0, I))``, with the
    reparameterisation z = mu + sigma * eps and Adam on shuffled mini-batches.
    ``transform`` returns the latent means, ``inverse_transform`` decodes,
    ``sample`` generates new rows and ``score`` is the held-out ELBO, so the
    estimator can be tuned with ``GridSearchCV`` without labels.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space.
    hidden_layer_sizes : array-like of int, default=(256, 128)
        Sizes of the encoder's hidden layers; the decoder mirrors them. An
        empty tuple gives a linear encoder and decoder.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Nonlinearity between layers.
    likelihood : {"gaussian", "bernoulli"} or Likelihood, default="gaussian"
        Observation model p(x | z). ``"gaussian"`` learns a mean and a scale
        per feature (see :class:`GaussianLikelihood`); ``"bernoulli"`` needs
        data in [0, 1] (see :class:`BernoulliLikelihood`).
    beta : float, default=1.0
        Weight of the KL term (beta-VAE); 1 gives the ELBO.
    kl_warmup : int, default=0
        Number of epochs over which the KL weight rises linearly to ``beta``.
    batch_size : int, default=128
        Rows per mini-batch (all rows when there are fewer).
    learning_rate_init : float, default=1e-3
        Adam's step size.
    max_iter : int, default=200
        Maximum number of epochs (passes over the data).
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows, stop when their loss
        stops improving and keep the weights of the best validation epoch.
    validation_fraction : float, default=0.1
        Share of rows held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Epochs without an improvement of at least ``tol`` before stopping.
    tol : float, default=1e-4
        Improvement, in nats per row, that counts as progress.
    device : str or torch.device, default="auto"
        Where to train and infer; ``"auto"`` picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the latent noise. The
        global torch random generator is never touched.
    verbose : int, default=0
        Show a progress bar with the loss per epoch when positive.
    warm_start : bool, default=False
        Reuse the fitted weights as the starting point of the next ``fit``.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.
    module_ : VAEModule
        The trained torch module.
    likelihood_ : Likelihood
        The observation model in use.
    device_ : torch.device
        The device the module lives on.
    optimizer_ : torch.optim.Adam
        The optimizer, kept for ``partial_fit`` and ``warm_start``.
    loss_curve_ : list of float
        Training loss (negative ELBO, nats per row, with the KL weight of the
        epoch) at each epoch.
    history_ : list of dict
        Per epoch: ``loss``, ``recon`` (reconstruction negative
        log-likelihood), ``kl``, ``kl_weight`` and ``val_loss`` (None without
        early stopping).
    n_iter_ : int
        Number of epochs run.
    best_loss_ : float or None
        Lowest training loss; None with early stopping, as in the MLP.
    validation_scores_ : list of float or None
        Validation ELBO (minus the loss) per epoch, with early stopping.
    best_validation_score_ : float or None
        Best validation ELBO, with early stopping.

    See Also
    --------
    sklearn.decomposition.PCA : Linear dimensionality reduction.
    sklearn.decomposition.FactorAnalysis : Linear Gaussian latent model.
    sklearn.neural_network.BernoulliRBM : Another neural generative model.

    References
    ----------
    Kingma, D. P. and Welling, M. (2014). Auto-Encoding Variational Bayes.
    International Conference on Learning Representations.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import VAETransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> vae = VAETransformer(n_components=2, max_iter=2, random_state=0)
    >>> vae.fit_transform(X / 16).shape
    (1797, 2)
    >>> vae.inverse_transform(vae.transform(X[:3] / 16)).shape
    (3, 64)
    >>> vae.sample(5, random_state=0).shape
    (5, 64)
    """

    _parameter_constraints: dict = {
        **_BaseAutoencoder._parameter_constraints,
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        likelihood="gaussian",
        beta=1.0,
        kl_warmup=0,
        batch_size=128,
        learning_rate_init=1e-3,
        max_iter=200,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _loss_config(self):
        return {"beta": self.beta, "kl_warmup": self.kl_warmup, "variational": True}

    def sample(self, n_samples=1, *, random_state=None):
        """Generate rows by decoding draws from the prior N(0, I).

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; the same seed gives the same rows.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            Decoder means of the generated rows, float64.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(
                f"n_samples must be a positive integer, got {n_samples!r}."
            )
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        z = torch.randn(
            (n_samples, self.n_components),
            generator=make_generator(seed),
            dtype=torch.float64,
        )
        return self.inverse_transform(z.numpy())

    def score_samples(self, X):
        """Evidence lower bound of each row, in nats.

        The reconstruction term is estimated with one latent draw per row whose
        noise is derived from the row's values, so the result is deterministic
        and does not depend on which other rows are in X; the KL term is exact.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.

        Returns
        -------
        elbo : ndarray of shape (n_samples,)
            ELBO of each row, a lower bound on log p(x).
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        eps = row_normal_noise(X, (self.n_components,)).astype(X.dtype)

        def elbo(module, x, e):
            recon, kl = elbo_terms(module, self.likelihood_, x, eps=e)
            return -(recon + kl)

        return self._map_batches(elbo, X, eps)

    def score(self, X, y=None):
        """Mean ELBO of the rows of X, in nats: higher is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        score : float
        """
        return float(np.mean(self.score_samples(X)))
