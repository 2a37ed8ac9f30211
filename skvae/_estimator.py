"""VAETransformer: the scikit-learn face of the variational autoencoder."""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from tqdm.auto import tqdm

from ._likelihoods import BernoulliLikelihood, GaussianLikelihood, Likelihood
from ._module import ACTIVATIONS, VAEModule
from ._training import elbo_terms, train
from ._utils import as_tensor, make_generator, resolve_device, row_normal_noise, to_numpy

_LIKELIHOODS = {"gaussian": GaussianLikelihood, "bernoulli": BernoulliLikelihood}

# Rows per forward pass at inference: bounds memory, never changes results.
_INFERENCE_BATCH = 4096


class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
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
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "likelihood": [StrOptions(set(_LIKELIHOODS)), Likelihood],
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [Interval(Integral, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
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

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to X by maximising the ELBO.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : VAETransformer
            The fitted estimator.
        """
        keep = self.warm_start and hasattr(self, "module_")
        X = self._check_X(X, reset=not keep)
        return self._fit(X, n_epochs=self.max_iter, keep=keep, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Run one epoch over X, building the model on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : VAETransformer
            The updated estimator.
        """
        keep = hasattr(self, "module_")
        X = self._check_X(X, reset=not keep)
        return self._fit(X, n_epochs=1, keep=keep, incremental=True)

    def _fit(self, X, *, n_epochs, keep, incremental):
        if not keep:
            self._initialize(X.shape[1])
        seed = self._random_state.randint(np.iinfo(np.int32).max)
        generator = make_generator(seed, self.device_)

        early_stopping = self.early_stopping and not incremental
        X_train, X_val = X, None
        if early_stopping:
            X_train, X_val = self._split_validation(X)
        # float32 C-contiguous input is used in place; anything else is copied once.
        X_train = as_tensor(np.ascontiguousarray(X_train), self.device_, torch.float32)
        if X_val is not None:
            X_val = as_tensor(np.ascontiguousarray(X_val), self.device_, torch.float32)

        with tqdm(total=n_epochs, disable=not self.verbose, desc="VAE", unit="epoch") as bar:

            def on_epoch(record):
                bar.set_postfix(
                    {k: record[k] for k in ("loss", "val_loss") if record[k] is not None}
                )
                bar.update()

            result = train(
                self.module_,
                self.likelihood_,
                self.optimizer_,
                X_train,
                n_epochs=n_epochs,
                batch_size=min(self.batch_size, X_train.shape[0]),
                generator=generator,
                beta=self.beta,
                kl_warmup=self.kl_warmup,
                first_epoch=self.n_iter_,
                X_val=X_val,
                tol=self.tol,
                n_iter_no_change=self.n_iter_no_change,
                stop_early=not incremental,
                on_epoch=on_epoch,
            )

        self.history_ += result.history
        self.loss_curve_ += [record["loss"] for record in result.history]
        self.n_iter_ += len(result.history)
        if early_stopping:
            self.validation_scores_ += [-r["val_loss"] for r in result.history]
            self.best_validation_score_ = max(self.validation_scores_)
        else:
            self.best_loss_ = min(self.loss_curve_)
        if not incremental and not result.converged:
            warnings.warn(
                f"VAETransformer: maximum iterations ({self.max_iter}) reached and the "
                "optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        return self

    def _initialize(self, n_features):
        """Build the fitted state from scratch: device, likelihood, module, optimizer."""
        hidden = tuple(int(h) for h in np.ravel(self.hidden_layer_sizes))
        if any(h < 1 for h in hidden) or np.ndim(self.hidden_layer_sizes) > 1:
            raise ValueError(
                "hidden_layer_sizes must be a flat sequence of positive integers, "
                f"got {self.hidden_layer_sizes!r}."
            )
        self._random_state = check_random_state(self.random_state)
        self.device_ = resolve_device(self.device)
        self.likelihood_ = (
            _LIKELIHOODS[self.likelihood]()
            if isinstance(self.likelihood, str)
            else copy.deepcopy(self.likelihood)
        )
        with torch.device("meta"):
            module = VAEModule(
                n_features,
                self.n_components,
                self.likelihood_.n_params(n_features),
                hidden_layer_sizes=hidden,
                activation=self.activation,
            )
        module = module.to_empty(device="cpu")
        # Initialise on the CPU so that the same seed gives the same start anywhere.
        module.reset_parameters(
            make_generator(self._random_state.randint(np.iinfo(np.int32).max))
        )
        self.module_ = module.to(self.device_).eval()
        self.optimizer_ = torch.optim.Adam(
            self.module_.parameters(), lr=self.learning_rate_init
        )
        self.loss_curve_, self.history_, self.n_iter_ = [], [], 0
        self.best_loss_ = None
        self.validation_scores_ = [] if self.early_stopping else None
        self.best_validation_score_ = None

    def _split_validation(self, X):
        n_val = int(round(self.validation_fraction * X.shape[0]))
        if n_val < 1 or n_val >= X.shape[0]:
            raise ValueError(
                f"early_stopping with validation_fraction={self.validation_fraction} "
                f"leaves no validation or no training rows out of {X.shape[0]}; "
                "provide more rows or change validation_fraction."
            )
        perm = self._random_state.permutation(X.shape[0])
        return X[perm[n_val:]], X[perm[:n_val]]

    # ------------------------------------------------------------ validation

    def _check_X(self, X, *, reset):
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
        likelihood = self.likelihood_ if not reset else self.likelihood
        if isinstance(likelihood, str):
            likelihood = _LIKELIHOODS[likelihood]
        low, high = likelihood.support
        if X.size and (X.min() < low or X.max() > high):
            raise ValueError(
                f"likelihood={self.likelihood!r} needs X in [{low}, {high}], "
                f"got values in [{X.min():.4g}, {X.max():.4g}]."
            )
        return X

    # ------------------------------------------------------------- inference

    def _inference_module(self, dtype):
        """``module_`` in the given dtype, for inference in the caller's precision.

        Float64 inference keeps results independent of how rows are batched
        to well below 1e-7; the float32 module is used as is.
        """
        if dtype == torch.float32:
            return self.module_
        return copy.deepcopy(self.module_).to(dtype)

    def _map_batches(self, fn, *arrays):
        """Apply ``fn`` to tensor batches of ``arrays`` and stack the NumPy results."""
        dtype = torch.from_numpy(arrays[0][:0]).dtype
        module = self._inference_module(dtype)
        out = []
        with torch.inference_mode():
            for start in range(0, max(len(arrays[0]), 1), _INFERENCE_BATCH):
                batch = [
                    as_tensor(a[start : start + _INFERENCE_BATCH], self.device_, dtype)
                    for a in arrays
                ]
                out.append(to_numpy(fn(module, *batch)))
        return np.concatenate(out)

    def transform(self, X):
        """Encode X as the means of q(z | x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components)
            Latent means, in X's floating dtype.
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return self._map_batches(lambda m, x: m.encode(x)[0], X)

    def inverse_transform(self, X):
        """Decode latent points to the mean of p(x | z) in data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent points, for instance the output of :meth:`transform`.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Decoded data, in the latent points' floating dtype.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        if Z.shape[1] != self.n_components:
            raise ValueError(
                f"X has {Z.shape[1]} features, but inverse_transform expects "
                f"n_components={self.n_components} latent features."
            )
        return self._map_batches(
            lambda m, z: self.likelihood_.mean(m.decode(z)), np.ascontiguousarray(Z)
        )

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
            raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}.")
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

    # --------------------------------------------------------- sklearn glue

    @property
    def _n_features_out(self):
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def __getstate__(self):
        state = super().__getstate__()
        if "module_" in state:
            module = state["module_"]
            if self.device_.type != "cpu":
                module = copy.deepcopy(module).cpu()
            state["module_"] = module
            state["optimizer_"] = _to_cpu(self.optimizer_.state_dict())
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "module_" not in state:
            return
        try:
            device = resolve_device(self.device_)
        except ValueError:
            warnings.warn(
                f"VAETransformer was fitted on {self.device_} which is not available; "
                "it is loaded on the CPU.",
                UserWarning,
            )
            device = torch.device("cpu")
        self.device_ = device
        self.module_ = self.module_.to(device)
        optimizer_state = self.optimizer_
        self.optimizer_ = torch.optim.Adam(self.module_.parameters())
        self.optimizer_.load_state_dict(optimizer_state)


def _to_cpu(obj):
    """A copy of a nested state dict with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj
