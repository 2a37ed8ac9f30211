"""VAETransformer: the scikit-learn face of the variational autoencoder."""

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._base import FITTED_ATTRIBUTES, KEPT_COMPONENTS, _BaseAutoencoder
from ._components import keep_columns, loc_and_scale, order_components
from ._density import _RowBoundsMixin
from ._given import sample_given
from ._interpolation import PATHS
from ._latent_density import (
    LATENT_DENSITIES,
    MIXTURE_COMPONENTS,
    draw_latents,
    mixture_expected,
    mixture_width,
    resolve_latent_density,
)
from ._latent_mixture import fit_latent_mixture
from ._persistence import FloatArray, Int, LatentMixture, register
from ._utils import make_generator
from ._validation import (
    check_count,
    check_output_size,
    decoder_noise_generator,
    fitted_on_frame,
)


@register(
    attributes={
        **FITTED_ATTRIBUTES,
        "kl_per_component_": FloatArray(("n_latent_",)),
        "n_active_components_": Int(low=0, high="n_latent_"),
        **KEPT_COMPONENTS,
        # (optional: absent from files written before latent_density existed)
        "latent_mixture_": LatentMixture(
            mixture_expected, mixture_width, MIXTURE_COMPONENTS, optional=True
        ),
    },
    later_params={  # numeric_scaling's default was "standard" until "auto"
        "numeric_scaling": "standard", "n_importance_train": None,
        "covariance": None, "handle_unknown": None, "architecture": None,
        "image_shape": None,
        "latent_density": "prior",  # sample drew from the prior until "auto"
    },
)
class VAETransformer(_RowBoundsMixin, _BaseAutoencoder):
    """Variational autoencoder as a scikit-learn transformer.

    The encoder maps each row x to a Gaussian q(z | x) = N(mu, sigma^2) over
    ``n_components`` latent dimensions; the decoder maps a latent z back to
    the parameters of p(x | z). Training maximises the evidence lower bound
    (ELBO), ``E_q[log p(x | z)] - beta * KL(q(z | x) || N(0, I))``, with the
    reparameterisation z = mu + sigma * eps and Adam on shuffled mini-batches.
    ``transform`` returns the latent means, ``inverse_transform`` decodes,
    ``sample`` generates new rows or variations of given ones,
    ``interpolate`` decodes paths between encodings, and ``score`` is the
    held-out ELBO (or, with ``n_importance``, a tighter bound on the
    log-likelihood), so the estimator can be tuned with ``GridSearchCV``
    without labels. As PCA orders its components by explained variance, the
    latent dimensions are ordered by their KL divergence from the prior, the
    information they carry: the first columns of ``transform`` matter most.

    Parameters
    ----------
    n_components : int or "auto", default="auto"
        Dimension of the latent space; pass 2 for a 2-D map of the data (the
        default was 2 until generation was measured). ``"auto"`` chooses it, as PCA's
        ``"mle"`` does: ``fit`` trains ``min(n_features_in_, 16)`` latent
        dimensions and keeps the active ones (``n_components_``, at least 1;
        the others collapsed to the prior). ``transform`` returns those and
        ``inverse_transform`` takes them (the others decoded at 0, the prior
        mean); ``sample`` and ``score`` use the whole fitted network.
    hidden_layer_sizes : array-like of int, default=(256, 128)
        Sizes of the encoder's hidden layers; the decoder mirrors them. An
        empty tuple gives a linear encoder and decoder.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Nonlinearity between layers.
    architecture : {"mlp", "conv"} or Architecture, default="mlp"
        The networks: ``"mlp"`` those of ``hidden_layer_sizes``; ``"conv"``
        a :class:`ConvArchitecture` (strided convolutions, for images as
        flattened rows, with ``image_shape``); or a :class:`ConvArchitecture`
        or :class:`CustomArchitecture` (the user's own modules) object.
    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` of the rows of X for ``"conv"``.
    likelihood : {"gaussian", "bernoulli"} or Likelihood, default="gaussian"
        Observation model p(x | z): ``"gaussian"`` (:class:`GaussianLikelihood`)
        or ``"bernoulli"`` (data in [0, 1]). Under ``"gaussian"`` on the MLP a
        DataFrame is a table (``tabular_``), whatever its dtypes.
    beta : float, default=1.0
        Weight of the KL term (beta-VAE); 1 gives the ELBO.
    kl_warmup : int, default=0
        Number of epochs over which the KL weight rises linearly to ``beta``.
    batch_size : int, default=128
        Rows per mini-batch (all rows when there are fewer).
    learning_rate_init : float, default=1e-3
        Adam's step size.
    max_iter : int, default=1000
        Maximum number of epochs, a cap: ``early_stopping`` usually ends it first.
    early_stopping : bool or "auto", default="auto"
        Hold out ``validation_fraction`` of the rows, stop when their loss
        stops improving and keep the weights of the best validation epoch.
        ``"auto"`` does so from 1,000 rows on; fewer stop on the training loss.
    validation_fraction : float, default=0.1
        Share of rows held out with ``early_stopping``.
    n_iter_no_change : int, default=10
        Length of the window, in epochs, that the stopping rule looks back
        over (longer on tables of a few mini-batches: at least 50 steps).
    tol : float, default=1e-4
        Relative tolerance of the stopping rule: training has converged once
        the last ``n_iter_no_change`` epochs improved the best monitored loss
        (held-out with ``early_stopping``, else the training loss) by at most
        ``tol`` times its whole improvement since the first epoch. Being
        relative, one value means the same on every data set, whatever its
        nats per row. The default stops about when no epoch of the window
        sets a new best. A larger value trades quality for time: 0.02 ended
        a default fit on digits after 165 epochs rather than 254, 2.3 nats
        lower, but cut the SDMetrics quality of synthetic tables by 0.004 to
        0.035 (``benchmarks/bench_stopping.py``,
        ``benchmarks/bench_synthetic.py``).
    device : str or torch.device, default="auto"
        Where to train and infer; ``"auto"`` picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the latent noise. The
        global torch random generator is never touched.
        A CPU fit picks its thread count by timing its first steps, and
        some networks round differently on 1 and 2 threads: for refits
        that are identical bit for bit whatever the machine's load, also fix
        the count (``SKVAE_NUM_THREADS=1``; see :ref:`threads`).
    verbose : int, default=0
        Show a progress bar with the loss per epoch when positive.
    warm_start : bool, default=False
        Reuse the fitted weights as the starting point of the next ``fit``.
    mixed_precision : bool, default=False
        Train with the layers under bfloat16 autocast (faster on GPUs with
        bfloat16 support); weights, optimizer and loss stay float32.
    missing : {"error", "mask"}, default="error"
        ``"error"`` refuses missing values, as scikit-learn estimators
        usually do. ``"mask"`` accepts NaN (and ``pd.NA`` or None in
        DataFrame columns) in ``fit`` and in every method that takes X:
        missing entries are left out of the reconstruction term (the masked
        ELBO) and the encoder sees one missingness indicator per column.
        Data is then standardized per column inside the model, and
        ``inverse_transform`` and ``sample`` return complete rows.
    numeric_scaling : {"auto", "standard", "quantile"}, default="auto"
        How numeric columns are scaled when the data goes through ``tabular_``
        (any DataFrame under the default Gaussian likelihood on the MLP, or
        ``missing="mask"``): ``"standard"`` standardizes each column;
        ``"quantile"`` maps each column through its empirical quantiles
        (at most 1,000) to a standard normal, for skewed, heavy-tailed or
        multi-modal columns, and maps decoded values back, so they stay in
        the range seen in fit. ``"quantile"`` also sends numeric arrays
        through ``tabular_``; with ``"standard"`` they are modelled as given.
        ``"auto"``: ``"quantile"`` for DataFrames, ``"standard"`` for arrays
        (measured in ``benchmarks/bench_synthetic.py``).
    n_importance_train : int, default=1
        Latent draws per row in the training objective. 1 trains on the ELBO.
        k > 1 trains on the importance-weighted bound over k draws (Burda et
        al., 2016), tighter than the ELBO: the importance-weighted
        autoencoder, whose model usually reaches a higher log-likelihood and
        whose posterior may be broader than a Gaussian fits. ``beta`` weights
        the prior and posterior terms inside the bound. Each step decodes k
        draws per row, so it costs about k times the ELBO's.
    covariance : {"diagonal", "full", "auto"}, default="diagonal"
        Covariance of the Gaussian likelihood of numeric data (with
        ``likelihood="gaussian"``, or the numeric columns of a table).
        ``"diagonal"``: one learned scale per column
        (:class:`GaussianLikelihood`). ``"full"``: one learned covariance
        matrix shared by all rows (:class:`FullCovarianceGaussianLikelihood`),
        so correlations that the latent space leaves unexplained are modelled
        in closed form; with ``missing="mask"`` an incomplete row is scored by
        the marginal of its observed entries. It adds
        ``n_features * (n_features + 1) / 2`` parameters and a Cholesky
        factorisation per incomplete row and step, whose cost grows with the
        cube of the number of numeric columns. ``"auto"``: ``"full"`` up to
        64 numeric columns, ``"diagonal"`` beyond.
    handle_unknown : {"error", "missing"}, default="error"
        A table category unseen in fit is an error naming it (as in
        ``OneHotEncoder``), or with ``missing="mask"`` a missing value.
    latent_density : {"auto", "prior", "mixture"}, default="auto"
        Where :meth:`sample` draws new latents from. ``"prior"``: N(0, I),
        the prior of training. ``"mixture"``: a Gaussian mixture of 10
        full-covariance components that ``fit`` fits, after training, to
        draws from q(z | x) for the training rows (the aggregate posterior,
        where the decoder learned to decode; ex-post density estimation,
        Ghosh et al., 2020), in the latent columns up to the last active
        one, the others drawn from N(0, I).
        It changes neither the network nor ``score``, and keeps no rows.
        ``"auto"``: ``"mixture"`` for a model fitted on a DataFrame (a
        table), ``"prior"`` otherwise (measured in
        ``benchmarks/bench_synthetic.py``).

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
        epoch; the negative importance-weighted bound with
        ``n_importance_train > 1``) at each epoch.
    history_ : list of dict
        Per epoch: ``loss``, ``recon`` (reconstruction negative
        log-likelihood), ``kl``, ``kl_weight`` and ``val_loss`` (None without
        early stopping). With ``n_importance_train > 1``, ``kl`` is the KL
        divergence estimated over the draws with their importance weights
        and ``recon`` the rest of the loss.
    n_iter_ : int
        Number of epochs run.
    n_threads_ : int
        CPU threads the last training steps ran on (see Notes).
    best_loss_ : float or None
        Lowest training loss; None with early stopping, as in the MLP.
    validation_scores_ : list of float or None
        Validation ELBO (minus the loss; the importance-weighted bound with
        ``n_importance_train > 1``) per epoch, with early stopping.
    best_validation_score_ : float or None
        Best validation score, with early stopping.
    n_components_ : int
        Number of columns of ``transform``: ``n_components``, or with
        ``"auto"`` the latent dimensions kept (the active ones, see
        ``n_active_components_``).
    n_latent_ : int
        Number of latent dimensions of the fitted network: ``n_components``,
        or with ``"auto"`` ``min(n_features_in_, 16)``.
    kl_per_component_ : ndarray of shape (n_latent_,)
        Mean KL divergence of q(z | x) from the prior along each latent
        dimension, in nats, on the data of the last ``fit`` or
        ``partial_fit`` (at most 10,000 evenly spaced rows of it). The
        latent dimensions (the columns of ``transform``) are reordered after
        training so that it decreases.
    n_active_components_ : int
        Number of latent dimensions with ``kl_per_component_`` above 0.01
        nats; the others have collapsed to the prior and carry no
        information about x.
    tabular_ : TabularEncoder
        Only when fitted on a DataFrame (any, with the default Gaussian MLP;
        one with non-numeric columns otherwise), ``missing="mask"`` or
        ``numeric_scaling="quantile"``: the encoding of the columns (numeric
        ones scaled by ``numeric_scaling``, booleans as 0/1, categorical
        ones one-hot over the categories seen in fit). The likelihood is
        then a :class:`MixedLikelihood` (Gaussian with a learned scale per
        standardized numeric column, Bernoulli per boolean, categorical per
        categorical column), and ``inverse_transform``, ``sample`` and
        ``interpolate`` return a DataFrame with the fitted columns and
        dtypes (integers rounded into the range seen in fit, categories
        among those seen in fit) when fitted on a DataFrame.
    latent_mixture_ : dict or None
        The latent mixture :meth:`sample` draws from (see ``latent_density``):
        ``weights`` (m,), ``means`` (m, k) and ``scale_tril`` (m, k, k), the
        Cholesky factors of the covariances, over the first k latent columns;
        None when ``sample`` draws from the prior. Fitted on the data of the
        last ``fit`` or ``partial_fit`` (at most 10,000 evenly spaced rows of
        it); under data parallelism, on the first process's rows.

    See Also
    --------
    sklearn.decomposition.PCA : Linear dimensionality reduction.
    sklearn.decomposition.FactorAnalysis : Linear Gaussian latent model.
    sklearn.neural_network.BernoulliRBM : Another neural generative model.
    AutoencoderTransformer : The deterministic autoencoder, for comparison.

    Notes
    -----
    On the CPU, ``fit`` times its first steps on one thread and on torch's
    count and trains on the faster (``n_threads_``); the environment variable
    ``SKVAE_NUM_THREADS`` fixes the count (see :ref:`parallel`). In a
    ``torch.distributed`` process group of several processes (``torchrun``),
    ``fit`` and ``partial_fit`` train data-parallel on each process's shard
    of rows, and every process ends with the same model (``batch_size`` then
    counts rows per process; see :ref:`distributed`).

    References
    ----------
    Kingma, D. P. and Welling, M. (2014). Auto-Encoding Variational Bayes.
    International Conference on Learning Representations.

    Burda, Y., Grosse, R. and Salakhutdinov, R. (2016). Importance Weighted
    Autoencoders. International Conference on Learning Representations.

    Ghosh, P., Sajjadi, M. S. M., Vergari, A., Black, M. and Schölkopf, B.
    (2020). From Variational to Deterministic Autoencoders. International
    Conference on Learning Representations.

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
    >>> vae.kl_per_component_.shape
    (2,)
    >>> auto = VAETransformer("auto", max_iter=2, random_state=0).fit(X / 16)
    >>> auto.n_latent_, auto.transform(X[:3] / 16).shape[1] == auto.n_components_
    (16, True)
    """

    _parameter_constraints: dict = {
        **_BaseAutoencoder._parameter_constraints,
        "n_components": [Interval(Integral, 1, None, closed="left"),
                         StrOptions({"auto"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "kl_warmup": [Interval(Integral, 0, None, closed="left")],
        "n_importance_train": [Interval(Integral, 1, None, closed="left")],
        "latent_density": [StrOptions(set(LATENT_DENSITIES))],
    }

    def __init__(
        self,
        n_components="auto",
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        architecture="mlp",
        image_shape=None,
        likelihood="gaussian",
        beta=1.0,
        kl_warmup=0,
        batch_size=128,
        learning_rate_init=1e-3,
        max_iter=1000,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        mixed_precision=False,
        missing="error",
        numeric_scaling="auto",
        n_importance_train=1,
        covariance="diagonal",
        handle_unknown="error",
        latent_density="auto",
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.architecture = architecture
        self.image_shape = image_shape
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
        self.mixed_precision = mixed_precision
        self.missing = missing
        self.numeric_scaling = numeric_scaling
        self.n_importance_train = n_importance_train
        self.covariance = covariance
        self.handle_unknown = handle_unknown
        self.latent_density = latent_density

    def _loss_config(self):
        return {
            "beta": self.beta,
            "kl_warmup": self.kl_warmup,
            "variational": True,
            "n_importance": self.n_importance_train,
        }

    def _after_training(self, X):
        """Order the latent dimensions by their mean KL on X, largest first
        (:func:`skvae._components.order_components`: only the order of the
        columns of ``transform`` changes), and with ``"auto"`` keep the
        active ones; an integer keeps the width fit built."""
        kept = order_components(self, X)
        auto = isinstance(self.n_components, str)
        self.n_components_ = kept if auto else self.n_latent_
        self._fit_latent_density(X)

    def _fit_latent_density(self, X):
        """Set ``latent_mixture_``: the mixture ``latent_density`` asks for
        (:func:`skvae._latent_mixture.fit_latent_mixture`), or None."""
        density = resolve_latent_density(self.latent_density, fitted_on_frame(self))
        self.latent_mixture_ = None
        if density == "mixture":
            seed = self._random_state.randint(np.iinfo(np.int32).max)
            self.latent_mixture_ = fit_latent_mixture(self, X, seed)

    def encode(self, X):
        """Mean and standard deviation of q(z | x) for each row of X.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        mean : ndarray of shape (n_samples, n_components_)
            Means of q(z | x), the same as :meth:`transform`, in X's dtype.
        std : ndarray of shape (n_samples, n_components_)
            Standard deviations of q(z | x), in X's dtype.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvae import VAETransformer
        >>> X, _ = load_digits(return_X_y=True)
        >>> vae = VAETransformer(n_components=2, max_iter=2, random_state=0)
        >>> mean, std = vae.fit(X / 16).encode(X[:5] / 16)
        >>> mean.shape, std.shape
        ((5, 2), (5, 2))
        """
        mean, std = self._posterior(X)
        k = self.n_components_  # as fitted, whatever set_params did since
        return keep_columns(mean, k), keep_columns(std, k)

    def _posterior(self, X):
        """Mean and std of q(z | x) in all ``n_latent_`` dimensions."""
        check_is_fitted(self)
        out = self.map_batches(loc_and_scale, self._check_X(X, reset=False))
        d = self.module_.n_components
        return np.ascontiguousarray(out[:, :d]), np.ascontiguousarray(out[:, d:])

    def sample(self, n_samples=1, *, X=None, given=None, random_state=None,
               decoder_noise="auto"):
        """Generate rows: from the prior, around the rows of X, or given columns.

        Without ``X``, latents are drawn from the prior N(0, I), or from the
        latent mixture (``latent_density``, by default for tables), and
        decoded: new rows like the training data. With ``X``, ``n_samples``
        latents are drawn from q(z | x) around each row of X and decoded:
        variations of given examples. Decoding gives the decoder's means, or with
        ``decoder_noise=True`` one draw from p(x | z): the model's full
        generative process. By default, tables get draws and arrays means.

        Parameters
        ----------
        n_samples : int, default=1
            Number of rows to generate, or per row of X when X is given.
        X : array-like of shape (n_rows, n_features), default=None
            Rows to generate variations of.
        given : dict, default=None
            ``{column: value}`` (names for a DataFrame, indices for an array)
            with ``missing="mask"``: the other columns are drawn from the
            model's conditional given these, by the importance resampling of
            :meth:`VAEImputer.sample_imputations` (200 draws per row), never
            by rejection: rows hold the given values exactly.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws; the same seed gives the same rows.
        decoder_noise : bool or "auto", default="auto"
            Draw each row from p(x | z) instead of returning its mean:
            Gaussian features get the decoder's learned noise, Bernoulli
            features are 0 or 1, and categorical columns draw a category
            from the decoder's probabilities rather than taking the most
            probable one. Sharper images come from the means; synthetic
            tables whose spread and category shares match the data's come
            from the draws (means drop minority categories). ``"auto"``
            draws for a model fitted on a DataFrame, means otherwise.

        Returns
        -------
        X_new : ndarray or DataFrame of shape (n_samples, n_features_in_) or \
                (n_rows * n_samples, n_features_in_)
            The generated rows: float64 without X, X's dtype with it; a
            DataFrame with the fitted columns and dtypes when fitted on a
            mixed-type table. With X, the ``n_samples`` rows generated from
            ``X[i]`` are rows ``i * n_samples`` to ``(i + 1) * n_samples - 1``.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvae import VAETransformer
        >>> X, _ = load_digits(return_X_y=True)
        >>> vae = VAETransformer(n_components=2, max_iter=2, random_state=0)
        >>> vae.fit(X / 16).sample(5, random_state=0).shape
        (5, 64)
        >>> vae.sample(4, X=X[:3] / 16, random_state=0).shape
        (12, 64)
        >>> vae.sample(2, random_state=0, decoder_noise=True).shape
        (2, 64)
        """
        check_is_fitted(self)
        check_count(n_samples, "n_samples")
        check_output_size(self, (n_samples,), "sample")
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        generator = make_generator(seed)
        noise = decoder_noise_generator(
            decoder_noise, seed, self.device_, table=fitted_on_frame(self)
        )
        if given is not None:
            return sample_given(self, n_samples, given, X, generator, noise)
        d = self.module_.n_components
        if X is None:  # (no mixture in a file or pickle from before it)
            mixture = getattr(self, "latent_mixture_", None)
            z = draw_latents(mixture, n_samples, d, generator)
        else:
            mean, std = self._posterior(X)  # the whole model, as fitted
            check_output_size(self, (mean.shape[0], n_samples), "sample")
            eps = torch.randn(
                (mean.shape[0], n_samples, d), generator=generator, dtype=torch.float64
            ).numpy()
            z = mean[:, None, :] + std[:, None, :] * eps.astype(mean.dtype)
            z = z.reshape(-1, d)
        return self._decode(z, noise)

    def interpolate(self, X_start, X_end, n_steps=10, *, method="linear"):
        """Decode paths in latent space between the encodings of paired rows.

        Row ``i`` of ``X_start`` and row ``i`` of ``X_end`` are encoded to the
        means of q(z | x); ``n_steps`` evenly spaced points on the path
        between the two means, both ends included, are decoded.

        Parameters
        ----------
        X_start : array-like of shape (n_pairs, n_features)
            Rows the paths start from.
        X_end : array-like of shape (n_pairs, n_features)
            Rows the paths end at.
        n_steps : int, default=10
            Number of points on each path, at least 2.
        method : {"linear", "spherical"}, default="linear"
            ``"linear"`` follows the straight line. ``"spherical"`` (slerp)
            turns the direction along the great circle at a constant angular
            speed while the norm changes linearly; under a Gaussian prior it
            avoids the low-norm region near the origin that a straight line
            between two distant points crosses.

        Returns
        -------
        paths : ndarray of shape (n_pairs, n_steps, n_features_in_)
            Decoder means along each path, in the inputs' dtype;
            ``paths[:, 0]`` and ``paths[:, -1]`` are the decodings of the
            latent means of ``X_start`` and ``X_end``.
            For a model fitted on a mixed-type DataFrame, a DataFrame of
            ``n_pairs * n_steps`` rows, path by path.

        Examples
        --------
        >>> from sklearn.datasets import load_digits
        >>> from skvae import VAETransformer
        >>> X, _ = load_digits(return_X_y=True)
        >>> vae = VAETransformer(n_components=2, max_iter=2, random_state=0)
        >>> vae.fit(X / 16).interpolate(X[:3] / 16, X[3:6] / 16, n_steps=7).shape
        (3, 7, 64)
        """
        check_is_fitted(self)
        check_count(n_steps, "n_steps", minimum=2)
        if not (isinstance(method, str) and method in PATHS):
            raise ValueError(f"method must be one of {sorted(PATHS)}, got {method!r}.")
        X_start = self._check_X(X_start, reset=False)
        X_end = self._check_X(X_end, reset=False)
        if X_start.shape[0] != X_end.shape[0]:
            raise ValueError(
                "X_start and X_end must have the same number of rows (one path "
                f"per pair), got {X_start.shape[0]} and {X_end.shape[0]}."
            )
        check_output_size(self, (X_start.shape[0], n_steps), "interpolate")
        dtype = np.result_type(X_start, X_end)
        start, end = (
            self.map_batches(lambda m, x: m.encode(x)[0], x.astype(dtype, copy=False))
            for x in (X_start, X_end)
        )
        t = np.linspace(0.0, 1.0, n_steps, dtype=dtype)
        path = PATHS[method](start[:, None, :], end[:, None, :], t[:, None])
        path[:, 0], path[:, -1] = start, end
        decoded = self._decode(path.reshape(-1, self.module_.n_components))
        if not isinstance(decoded, np.ndarray):  # a DataFrame, pair by pair
            return decoded
        return decoded.reshape(len(start), n_steps, -1)
