"""VAEImputer: missing values filled in by a variational autoencoder."""

from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    OneToOneFeatureMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_is_fitted

from ._completion import complete_rows
from ._estimator import VAETransformer
from ._persistence import Int, Nested, OutputConfig, StrArray, register
from ._persistence import save as _save
from ._utils import make_generator
from ._validation import check_count, check_output_size, decoder_noise_generator

#: the parameters VAEImputer passes on to its VAETransformer as they are
_SHARED_PARAMS = (
    "n_components",
    "hidden_layer_sizes",
    "beta",
    "batch_size",
    "learning_rate_init",
    "covariance",
    "max_iter",
    "n_importance_train",
    "device",
    "random_state",
    "verbose",
)


@register(
    attributes={
        "_sklearn_output_config": OutputConfig(optional=True, unfitted=True),
        "n_features_in_": Int(low=1, mirror=True),
        "n_iter_": Int(low=0, mirror=True),
        "feature_names_in_": StrArray("n_features_in_", optional=True, mirror=True),
    },
    nested=Nested(
        "vae_",
        classes=("VAETransformer",),
        # what fit always gives it (files from before latent_density load as
        # "prior", the prior being all there was)
        params={
            "missing": "mask",
            "numeric_scaling": "standard",
            "latent_density": "prior",
        },
    ),
    later_params=("covariance", "n_importance_train"),
)
class VAEImputer(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Fill in missing values with a variational autoencoder's estimate.

    A :class:`VAETransformer` with ``missing="mask"`` is trained on the
    incomplete rows: the reconstruction term of its objective skips the
    missing entries and its encoder sees one missingness indicator per
    column. By default its numeric columns (up to 64 of them) have a
    full-covariance Gaussian likelihood, so a missing entry is predicted
    both through the latent space and by its Gaussian regression on the
    row's observed entries given z. The objective is the importance-weighted bound over
    ``n_importance_train`` draws and imputation averages the decoder's means
    over ``n_importance`` draws from q(z | x), weighted by how well each
    explains the row's observed entries: the MIWAE of Mattei and Frellsen
    (2019). Observed entries are returned unchanged, and rows with no
    missing entry skip the model. DataFrames may mix numeric, integer,
    boolean and categorical columns (missing values as NaN, ``pd.NA`` or
    None): categorical entries are filled with the most probable category,
    integers with rounded values and booleans with the more probable value.
    :meth:`sample_imputations` gives several draws for multiple imputation.

    Parameters
    ----------
    n_components : int, default=8
        Dimension of the latent space.
    hidden_layer_sizes : array-like of int, default=(128, 128)
        Sizes of the encoder's hidden layers; the decoder mirrors them.
    beta : float, default=1.0
        Weight of the KL term; 1 trains on the bound on the log-likelihood
        itself, which :meth:`sample_imputations` needs for completions that
        vary as much as the missing values are uncertain.
    batch_size : int, default=64
        Rows per mini-batch.
    learning_rate_init : float, default=3e-3
        Adam's step size. Training also stops by :class:`VAETransformer`'s
        plateau rule (its default ``tol``), which the larger step reaches
        sooner on small tables (measured under the earlier, absolute rule):
        with the other defaults, 3e-3 gave a median RMSE of 0.674, 0.369
        and 0.739 on three scikit-learn tables with 20% of entries hidden,
        against 0.687, 0.377 and 0.728 with 1e-3, in
        about half the time (``benchmarks/bench_imputation_trials.py``).
    covariance : {"auto", "full", "diagonal"}, default="auto"
        Covariance of the Gaussian likelihood of the numeric columns (see
        :class:`VAETransformer`). ``"full"`` models the correlations that
        the latent space leaves unexplained, and the missing entries are
        regressed on the observed ones given z. On three scikit-learn tables
        with 20% of entries hidden it lowered the median RMSE over six seeds
        by 0.056, 0.132 and 0.015 against ``"diagonal"`` with the other
        defaults the same (``benchmarks/bench_imputation_trials.py``). It
        costs a Cholesky factorisation per incomplete row and step: a
        training step took 1.2, 1.7, 5.2, 11.5 and 28.5 times as long as with
        ``"diagonal"`` at 10, 30, 64, 100 and 200 numeric columns
        (``benchmarks/bench_covariance.py``). ``"auto"`` takes ``"full"``
        for up to 64 numeric columns and ``"diagonal"`` beyond.
    max_iter : int, default=300
        Number of epochs.
    n_importance_train : int, default=10
        Latent draws per row in the training objective: the
        importance-weighted bound of the incomplete rows (MIWAE; Mattei and
        Frellsen, 2019) rather than the ELBO for k > 1. On three scikit-learn
        tables with 20% of entries hidden, with the other defaults, 10 draws
        gave a median RMSE over six seeds of 0.690, 0.363 and 0.748 against
        the ELBO's 0.686, 0.360 and 0.765, for 2 to 3 times its fit time
        (``benchmarks/bench_imputation_trials.py``).
    n_importance : int, default=200
        Latent draws per row when imputing. ``transform`` fills each missing
        entry with the importance-weighted average over these draws from
        q(z | x) of its expectation given z and the observed entries (the
        decoder's mean, regressed on the observed entries with
        ``covariance="full"``), an estimate of its expectation given
        the observed entries under the model; :meth:`sample_imputations`
        picks one draw per completion by sampling importance resampling.
        With 1, ``transform`` uses the posterior mean and each completion
        one draw from q(z | x). The estimate's Monte Carlo error falls with
        more draws, and its cost grows with them: on three scikit-learn
        tables with 20% of entries hidden, 1,000 draws rather than 100
        lowered the median RMSE over six seeds from 0.690 to 0.682 on one
        and changed the other two by at most 0.002
        (``benchmarks/bench_imputation_trials.py``), and 200 rather than
        1,000 changed it by at most 0.002 (medians over five seeds, one
        thread; ``benchmarks/bench_imputer_defaults.py``) for a fifth of
        ``transform``'s time.
    device : str or torch.device, default="auto"
        Where to train and infer.
    random_state : int, RandomState instance or None, default=None
        Seeds the training. Refits are identical bit for bit only at a fixed
        thread count (``SKVAE_NUM_THREADS=1``): with the default full
        covariance, three fits on diabetes with ``random_state=0`` ran 128,
        88 and 92 epochs when each chose its own count, and 104 each, with
        identical weights, with the count fixed
        (``benchmarks/bench_threads_under_load.py --refits``; see
        :ref:`threads`).
    verbose : int, default=0
        Show a progress bar when positive.

    Attributes
    ----------
    vae_ : VAETransformer
        The fitted autoencoder (``missing="mask"``).
    n_iter_ : int
        Number of epochs run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when X has string column names.

    See Also
    --------
    sklearn.impute.IterativeImputer : Round-robin regression of each feature.
    sklearn.impute.KNNImputer : Mean of the nearest neighbours.
    VAETransformer : The underlying model.

    References
    ----------
    Kingma, D. P. and Welling, M. (2014). Auto-Encoding Variational Bayes.
    International Conference on Learning Representations.

    Nazábal, A., Olmos, P. M., Ghahramani, Z. and Valera, I. (2020). Handling
    incomplete heterogeneous data using VAEs. Pattern Recognition, 107.

    Mattei, P.-A. and Frellsen, J. (2019). MIWAE: Deep generative modelling
    and imputation of incomplete data sets. International Conference on
    Machine Learning.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_diabetes
    >>> from skvae import VAEImputer
    >>> X, _ = load_diabetes(return_X_y=True)
    >>> X = X.copy()
    >>> X[::4, 2] = np.nan
    >>> imputer = VAEImputer(max_iter=2, random_state=0).fit(X)
    >>> X_filled = imputer.transform(X)
    >>> X_filled.shape, bool(np.isnan(X_filled).any())
    ((442, 10), False)
    >>> imputer.sample_imputations(X[:5], n_imputations=3, random_state=0).shape
    (3, 5, 10)
    """

    # the parameters passed on to vae_ mean what they mean there
    _parameter_constraints: dict = {
        **{
            name: VAETransformer._parameter_constraints[name]
            for name in _SHARED_PARAMS
        },
        # an integer only: "auto" keeps the columns of VAETransformer's
        # transform, and imputation uses every latent dimension anyway
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "n_importance": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        n_components=8,
        *,
        hidden_layer_sizes=(128, 128),
        beta=1.0,
        batch_size=64,
        learning_rate_init=3e-3,
        covariance="auto",
        max_iter=300,
        n_importance_train=10,
        n_importance=200,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.beta = beta
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.covariance = covariance
        self.max_iter = max_iter
        self.n_importance_train = n_importance_train
        self.n_importance = n_importance
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on the observed entries of X.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Data with missing values.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The fitted imputer.

        Notes
        -----
        A refused or failed fit changes nothing: on any exception but
        ``KeyboardInterrupt`` every attribute stays as it was before the
        call. The new autoencoder is trained on its own and replaces the old
        one only once it is fitted. A ``KeyboardInterrupt`` during training
        keeps the weights of the last completed epoch and warns.
        """
        vae = VAETransformer(
            **{name: getattr(self, name) for name in _SHARED_PARAMS},
            missing="mask",
            # standardized columns, as measured in benchmarks/bench_tabular.py
            numeric_scaling="standard",
            # imputation never draws from the prior: no latent mixture to fit
            latent_density="prior",
        ).fit(X)
        # assigned only now that nothing can fail any more
        self.vae_ = vae
        self.n_features_in_ = vae.n_features_in_
        self.n_iter_ = vae.n_iter_
        if hasattr(vae, "feature_names_in_"):
            self.feature_names_in_ = vae.feature_names_in_
        else:
            self.__dict__.pop("feature_names_in_", None)
        return self

    def transform(self, X):
        """Fill the missing entries of X with the decoder's estimate.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Data with missing values.

        Returns
        -------
        X_filled : ndarray or DataFrame of shape (n_samples, n_features)
            X with every missing entry filled in: an array in X's floating
            dtype, or a DataFrame with X's columns, dtypes and index when
            fitted on a DataFrame.
        """
        return self._impute(X, None)[0]

    def sample_imputations(
        self, X, n_imputations=5, *, random_state=None, decoder_noise=True
    ):
        """Several completions of X, for multiple imputation.

        For each row, ``n_importance`` latent points are drawn from q(z | x)
        (given its observed entries) once; each completion keeps one of them
        with probability proportional to its importance weight (sampling
        importance resampling, with replacement: an approximate draw from
        the model's posterior) and then, by default, draws the missing
        entries from p(x | z) there: for numeric columns from their Gaussian
        regression on the observed entries (with ``covariance="full"``;
        Gaussian noise at each column's learned scale with ``"diagonal"``),
        for categorical ones a category drawn from the decoder's
        probabilities. With ``n_importance=1`` each completion draws its own
        latent point from q(z | x) instead. The
        completions so vary as much as the model says the missing values are
        uncertain, as multiple imputation needs for its pooled variances to
        be right: on the diabetes table of the tables example the central 90%
        of 50 completions held the hidden value for 89% of the entries. A
        ``beta`` below 1 narrows them (69% at ``beta=0.5`` with the diagonal
        covariance).

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Data with missing values.
        n_imputations : int, default=5
            Number of completions.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws.
        decoder_noise : bool, default=True
            Draw the missing entries from p(x | z); when False, fill them
            with the decoder's means at the drawn latent points, so the
            completions vary only with the latent uncertainty.

        Returns
        -------
        imputations : ndarray of shape (n_imputations, n_samples, n_features) \
                or list of DataFrame
            The completions, as a list of DataFrames when fitted on a
            DataFrame.
        """
        check_is_fitted(self)
        check_count(n_imputations, "n_imputations")
        check_output_size(self.vae_, (n_imputations,), "sample_imputations")
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        generator = make_generator(seed)
        data_noise = decoder_noise_generator(decoder_noise, seed, self.vae_.device_)
        out = self._impute(X, generator, data_noise, n_imputations)
        return np.stack(out) if isinstance(out[0], np.ndarray) else out

    def _impute(self, X, generator, data_noise=None, n_imputations=None):
        """The completions of X: ``transform``'s one when ``generator`` is
        None, else ``n_imputations`` drawn by sampling importance resampling."""
        check_is_fitted(self)
        vae = self.vae_
        encoded = vae.prepare_input(X)
        n_features = encoded.shape[1] - vae.n_features_in_
        observed = encoded[:, n_features:] > 0.5
        # read at call time, so checked here too (set_params may have changed it)
        check_count(self.n_importance, "n_importance")
        k = self.n_importance
        m = 1 if generator is None else n_imputations
        if generator is not None:
            check_output_size(vae, (m, encoded.shape[0]), "sample_imputations")

        # Only rows with a missing entry go through the model; the others'
        # estimates are placeholders that the observed values replace below.
        incomplete = np.flatnonzero(~observed.all(axis=1))
        filled = np.zeros((len(encoded), m, n_features), dtype=encoded.dtype)
        if len(incomplete):
            filled[incomplete] = complete_rows(
                vae, encoded[incomplete], k, generator, data_noise, m
            )
        # observation indicators are in block order; back to column order
        mask = np.empty_like(observed)
        mask[:, vae.tabular_.order_] = observed
        completions = []
        for j in range(m):
            estimate = vae.tabular_.inverse_transform(
                np.ascontiguousarray(filled[:, j]), dtype=encoded.dtype
            )
            if isinstance(estimate, np.ndarray):
                values = check_array(
                    X, dtype=encoded.dtype, ensure_all_finite="allow-nan"
                )
                completions.append(np.where(mask, values, estimate))
            else:
                estimate.index = X.index
                completions.append(X.where(mask, estimate))
        return completions

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def save(self, path):
        """Save the imputer to one file that :func:`skvae.load` reads without pickle.

        The file is a safetensors file holding the imputer's parameters and
        fitted attributes, and its fitted ``vae_`` nested in it: the
        autoencoder's weights and optimizer state as tensors named
        ``vae_.<name>`` (on the CPU whatever the device), its parameters,
        attributes and table encoding as JSON metadata. Loading it runs no
        code, unlike pickle or joblib; see :func:`skvae.load`.

        Parameters
        ----------
        path : str or os.PathLike
            File to write; replaced if it exists, never left half-written.

        Returns
        -------
        None

        Raises
        ------
        TypeError
            If an attribute holds a value the format cannot store (the message
            names it), for instance a column of an unsupported dtype.
        ValueError
            If the parameters of ``vae_`` were changed after ``fit`` so that
            they no longer describe its fitted module.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import skvae
        >>> X = np.random.RandomState(0).normal(size=(50, 4))
        >>> X[::3, 1] = np.nan
        >>> imputer = skvae.VAEImputer(hidden_layer_sizes=(8,), max_iter=2,
        ...                            device="cpu", random_state=0).fit(X)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "imputer.safetensors")
        ...     imputer.save(path)
        ...     loaded = skvae.load(path)
        >>> type(loaded).__name__
        'VAEImputer'
        >>> np.array_equal(loaded.transform(X), imputer.transform(X))
        True
        """
        _save(self, path)
