"""AutoencoderTransformer: the deterministic autoencoder, for comparison."""

from ._base import FITTED_ATTRIBUTES, KEPT_COMPONENTS, _BaseAutoencoder
from ._persistence import register


@register(
    attributes={**FITTED_ATTRIBUTES, **KEPT_COMPONENTS},
    later_params=(
        "numeric_scaling",
        "covariance",
        "handle_unknown",
        "architecture",
        "image_shape",
    ),
)
class AutoencoderTransformer(_BaseAutoencoder):
    """Deterministic autoencoder as a scikit-learn transformer.

    The encoder maps each row x to a code z of ``n_components`` values and
    the decoder maps z back to the parameters of p(x | z). Training maximises
    the log-likelihood of the data under its own reconstruction,
    ``log p(x | z = encoder(x))``, with Adam on shuffled mini-batches: the
    variational autoencoder's loss without noise and without the KL term.
    It shares :class:`VAETransformer`'s network, likelihoods, training loop
    and interface, so the two can be compared side by side. Nothing pulls its
    codes towards a prior, so its latent space has no density to sample from
    and may break into separate clusters with gaps in between; use
    :class:`VAETransformer` to sample or interpolate.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the code. There is no ``"auto"``, as
        :class:`VAETransformer` has: it keeps the latent dimensions whose KL
        divergence from the prior is above zero, and a code without a prior
        has no such measure of which dimensions are used.
    hidden_layer_sizes : array-like of int, default=(256, 128)
        Sizes of the encoder's hidden layers; the decoder mirrors them. An
        empty tuple gives a linear encoder and decoder.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        Nonlinearity between layers.
    architecture : {"mlp", "conv"} or Architecture, default="mlp"
        The networks, as in :class:`VAETransformer`: the MLP of
        ``hidden_layer_sizes``, a :class:`ConvArchitecture` or a
        :class:`CustomArchitecture`.
    image_shape : tuple of int or None, default=None
        ``(channels, height, width)`` of the rows of X for ``"conv"``.
    likelihood : {"gaussian", "bernoulli"} or Likelihood, default="gaussian"
        Observation model p(x | z) that defines the reconstruction loss.
        ``"gaussian"`` learns a scale per feature (see
        :class:`GaussianLikelihood`); ``"bernoulli"`` is the cross-entropy
        and needs data in [0, 1] (see :class:`BernoulliLikelihood`).
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
        Relative tolerance of the stopping rule, as for
        :class:`VAETransformer`: training has converged once the last
        ``n_iter_no_change`` epochs improved the best monitored loss by at
        most ``tol`` times its whole improvement since the first epoch.
    device : str or torch.device, default="auto"
        Where to train and infer; ``"auto"`` picks CUDA when available.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation and shuffling. The global torch random
        generator is never touched.
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
        ``"mask"`` accepts missing values and leaves them out of the
        reconstruction loss, as in :class:`VAETransformer`.
    numeric_scaling : {"standard", "quantile"}, default="standard"
        How numeric columns are scaled, as in :class:`VAETransformer`.
    covariance : {"diagonal", "full", "auto"}, default="diagonal"
        Covariance of the Gaussian likelihood of numeric data, as in
        :class:`VAETransformer`.
    handle_unknown : {"error", "missing"}, default="error"
        Whether a category not seen in fit is an error or (with
        ``missing="mask"``) a missing value, as in :class:`VAETransformer`.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.
    module_ : VAEModule
        The trained torch module; ``encode`` returns the code as its first
        output (the second, a log-scale, is not trained).
    likelihood_ : Likelihood
        The observation model in use.
    device_ : torch.device
        The device the module lives on.
    optimizer_ : torch.optim.Adam
        The optimizer, kept for ``partial_fit`` and ``warm_start``.
    loss_curve_ : list of float
        Training loss (reconstruction negative log-likelihood, nats per row)
        at each epoch.
    history_ : list of dict
        Per epoch: ``loss``, ``recon`` (equal to ``loss``), ``kl`` (always 0),
        ``kl_weight`` and ``val_loss`` (None without early stopping).
    n_iter_ : int
        Number of epochs run.
    n_threads_ : int
        CPU threads the last training steps ran on, measured as in
        :class:`VAETransformer`.
    best_loss_ : float or None
        Lowest training loss; None with early stopping, as in the MLP.
    validation_scores_ : list of float or None
        Validation log-likelihood (minus the loss) per epoch, with early
        stopping.
    best_validation_score_ : float or None
        Best validation log-likelihood, with early stopping.
    n_components_, n_latent_ : int
        Width of the code as fitted: ``n_components``, whatever
        ``set_params`` changed since.

    See Also
    --------
    VAETransformer : The variational autoencoder, with a continuous latent
        space to sample and interpolate in.
    sklearn.decomposition.PCA : The linear autoencoder with squared error.
    sklearn.neural_network.MLPRegressor : A network trained on targets.

    References
    ----------
    Hinton, G. E. and Salakhutdinov, R. R. (2006). Reducing the
    Dimensionality of Data with Neural Networks. Science, 313(5786), 504-507.

    Kingma, D. P. and Welling, M. (2014). Auto-Encoding Variational Bayes.
    International Conference on Learning Representations.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import AutoencoderTransformer
    >>> X, _ = load_digits(return_X_y=True)
    >>> ae = AutoencoderTransformer(n_components=2, max_iter=2, random_state=0)
    >>> ae.fit_transform(X / 16).shape
    (1797, 2)
    >>> ae.inverse_transform(ae.transform(X[:3] / 16)).shape
    (3, 64)
    >>> ae.get_feature_names_out()
    array(['autoencodertransformer0', 'autoencodertransformer1'], dtype=object)
    """

    def __init__(
        self,
        n_components=2,
        *,
        hidden_layer_sizes=(256, 128),
        activation="relu",
        architecture="mlp",
        image_shape=None,
        likelihood="gaussian",
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
        numeric_scaling="standard",
        covariance="diagonal",
        handle_unknown="error",
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.architecture = architecture
        self.image_shape = image_shape
        self.likelihood = likelihood
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
        self.covariance = covariance
        self.handle_unknown = handle_unknown

    def _loss_config(self):
        return {"variational": False}
