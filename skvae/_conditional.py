"""ConditionalVAE: a variational autoencoder whose decoder is told the target."""

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.validation import check_array, check_is_fitted

from ._architectures import make_architecture
from ._base import FITTED_ATTRIBUTES, KEPT_COMPONENTS
from ._components import check_latents
from ._density import _IWAE_VALUES
from ._estimator import VAETransformer
from ._interpolation import PATHS
from ._objectives import elbo_terms
from ._persistence import FloatArray, Int, Labels, register
from ._scoring import iwae_rows
from ._state import transaction as _transaction
from ._targets import encode_targets, fit_targets, target_rows
from ._utils import make_generator, row_normal_noise
from ._validation import (
    check_count,
    check_output_size,
    decoder_noise_generator,
    fitted_on_frame,
)

_TARGET_ATTRIBUTES = (
    "n_conditions_",
    "classes_",
    "class_prior_",
    "y_mean_",
    "y_scale_",
)


@register(
    attributes={
        **FITTED_ATTRIBUTES,
        "kl_per_component_": FloatArray(("n_latent_",)),
        "n_active_components_": Int(low=0, high="n_latent_"),
        **KEPT_COMPONENTS,
        "n_conditions_": Int(low=1),
        "y_mean_": FloatArray(("n_conditions_",), unless="classes_"),
        "y_scale_": FloatArray(
            ("n_conditions_",), low=np.finfo(np.float64).tiny, unless="classes_"
        ),
        "classes_": Labels("n_conditions_", unless="y_mean_"),
        "class_prior_": FloatArray(("n_conditions_",), low=0.0, unless="y_mean_"),
    },
    conditions="n_conditions_",
)
class ConditionalVAE(VAETransformer):
    """Conditional variational autoencoder: p(x | z, y) with q(z | x).

    Fitted with ``fit(X, y)``. The decoder reads the target y (one-hot class
    labels, or standardised continuous targets) beside the latent z; the
    encoder q(z | x) sees x only, so :meth:`transform` needs no y and works
    in a ``Pipeline``, and z holds the variation y does not explain (the
    "style"). :meth:`sample` draws new rows of chosen classes or targets, or
    keeps the style of given rows while changing their class;
    :meth:`score_samples` bounds log p(x | y), or log p(x) summed over the
    classes when no y is given. Training maximises the conditional ELBO
    ``E_q[log p(x | z, y)] - beta * KL(q(z | x) || N(0, I))``.

    Parameters
    ----------
    n_components, hidden_layer_sizes, activation, likelihood, beta, \
kl_warmup, batch_size, learning_rate_init, max_iter, early_stopping, \
validation_fraction, n_iter_no_change, tol, device, random_state, verbose, \
warm_start, mixed_precision, missing, numeric_scaling, n_importance_train, \
covariance, handle_unknown
        As for :class:`VAETransformer`.
    architecture : {"mlp"}, default="mlp"
        Only the MLP takes a condition at its decoder's input; any other
        value is refused by ``fit``.
    image_shape : None
        Unused (the MLP reads flat rows).
    target : {"auto", "classes", "continuous"}, default="auto"
        How y is read. ``"auto"`` follows ``type_of_target``: binary and
        multiclass y are class labels, continuous y (one or several columns)
        continuous targets; multilabel and multiclass-multioutput y are
        refused. ``"classes"`` and ``"continuous"`` force one reading (say,
        integer targets meant as numbers).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels, with class labels only.
    class_prior_ : ndarray of shape (n_classes,)
        Share of each class among the training rows, with class labels only;
        :meth:`sample` without y draws classes from it.
    y_mean_, y_scale_ : ndarray of shape (n_targets,)
        Mean and scale the continuous targets are standardised with, with
        continuous targets only.
    n_conditions_ : int
        Width of the condition the decoder reads: the number of classes, or
        of target columns.
    n_features_in_, feature_names_in_, module_, likelihood_, device_, \
optimizer_, loss_curve_, history_, n_iter_, best_loss_, validation_scores_, \
best_validation_score_, n_components_, n_latent_, kl_per_component_, \
n_active_components_, tabular_
        As for :class:`VAETransformer` (``n_components="auto"`` included).

    See Also
    --------
    VAETransformer : The unconditional model.
    VAEOversampler : Oversampling of minority classes with this model.

    References
    ----------
    Kingma, D. P. and Welling, M. (2014). Auto-Encoding Variational Bayes.
    International Conference on Learning Representations.

    Sohn, K., Lee, H. and Yan, X. (2015). Learning Structured Output
    Representation using Deep Conditional Generative Models. Advances in
    Neural Information Processing Systems 28.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skvae import ConditionalVAE
    >>> X, y = load_digits(return_X_y=True)
    >>> cvae = ConditionalVAE(n_components=4, max_iter=2, random_state=0)
    >>> cvae.fit(X / 16, y).transform(X[:3] / 16).shape
    (3, 4)
    >>> cvae.classes_
    array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    >>> cvae.sample(5, y=3, random_state=0).shape
    (5, 64)
    >>> cvae.sample(2, y=[0, 7], random_state=0).shape
    (4, 64)
    >>> cvae.sample(X=X[:3] / 16, y=[8, 8, 8], random_state=0).shape
    (3, 64)
    >>> cvae.score_samples(X[:3] / 16, y[:3]).shape
    (3,)
    """

    _parameter_constraints: dict = {
        **{
            k: v
            for k, v in VAETransformer._parameter_constraints.items()
            if k != "latent_density"  # sample's z: the prior (not measured here)
        },
        "target": [StrOptions({"auto", "classes", "continuous"})],
    }

    # the parent's parameters, then target (stored as given; see _set)
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
        max_iter=200,
        early_stopping=False,
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
        target="auto",
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
        self.target = target

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to X given the targets y.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Class labels, or continuous targets (see ``target``).

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        A refused or failed fit changes nothing (see
        :meth:`VAETransformer.fit`). With ``warm_start``, y must hold only
        the classes (or the number of target columns) of the first fit.
        """
        keep = self.warm_start and hasattr(self, "module_")
        return self._fit_with(X, y, keep=keep, incremental=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, classes=None):
        """Run one epoch over X given y, building the model on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Class labels, or continuous targets.
        classes : array-like of shape (n_classes,), default=None
            Every class label, needed on the first call when its y does not
            hold them all (as for ``SGDClassifier.partial_fit``); ignored
            afterwards.

        Returns
        -------
        self : object
            The updated estimator.
        """
        keep = hasattr(self, "module_")
        return self._fit_with(X, y, keep=keep, incremental=True, classes=classes)

    def _fit_with(self, X, y, *, keep, incremental, classes=None):
        name = type(self).__name__
        if make_architecture(self.architecture) is not None:
            raise ValueError(
                f"{name} conditions an MLP decoder; architecture must be 'mlp', "
                f"got {self.architecture!r}."
            )
        with _transaction(self, keep):
            X = self._check_X(X, reset=not keep)
            if not keep:
                targets = fit_targets(self, y, X.shape[0], classes=classes)
                for key in _TARGET_ATTRIBUTES:
                    self.__dict__.pop(key, None)
                self.__dict__.update(targets)
            else:
                fit_targets(self, y, X.shape[0])  # the same checks of y's form
            condition = encode_targets(self, np.asarray(y)).astype(X.dtype)
            n_epochs = 1 if incremental else self.max_iter
            return self._fit(
                X,
                n_epochs=n_epochs,
                keep=keep,
                incremental=incremental,
                condition=condition,
            )

    # ------------------------------------------------------------- inference

    def _fit_latent_density(self, X):
        """No latent mixture: ``sample`` draws z from the prior."""

    def _decode_given(self, Z, condition, generator=None):
        """Decoder means (or draws, with ``generator``) at latents Z given the
        condition rows; as a table when fitted on one."""
        likelihood = self.likelihood_
        condition = condition.astype(Z.dtype)

        def decode(module, z, c):
            params = module.decode(z, c)
            if generator is None:
                return likelihood.mean(params)
            return likelihood.sample(params, generator)

        out = self.map_batches(decode, np.ascontiguousarray(Z), condition)
        if hasattr(self, "tabular_"):
            return self.tabular_.inverse_transform(out, dtype=out.dtype)
        return out

    def inverse_transform(self, X, y=None):
        """Decode latent points to the mean of p(x | z, y).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)
            Latent points, for instance the output of :meth:`transform`
            (dimensions ``n_components="auto"`` dropped are decoded at 0).
        y : label, target or array-like of shape (n_samples,)
            The class (or target) to decode each point with: one for all, or
            one per point. Required: the decoder needs it.

        Returns
        -------
        X_original : ndarray or DataFrame of shape (n_samples, n_features_in_)
            Decoded data, in the latent points' floating dtype.
        """
        check_is_fitted(self)
        if y is None:
            raise ValueError(
                f"{type(self).__name__}.inverse_transform decodes given a "
                "target: pass y (one for all rows or one per row)."
            )
        Z = check_latents(
            self, check_array(X, dtype=[np.float64, np.float32], input_name="X")
        )
        condition, _ = target_rows(self, y, Z.shape[0])
        return self._decode_given(Z, condition)

    def encode_condition(self, y):
        """The condition rows the decoder reads for the targets y.

        Class labels become one-hot rows, in the order of ``classes_``;
        continuous targets are standardised, ``(y - y_mean_) / y_scale_``.
        These rows are the ``condition`` input of the graphs that
        :func:`skvae.to_onnx` exports for ``inverse_transform`` and
        ``sample``.

        Parameters
        ----------
        y : label, target or array-like of shape (n_targets,) or \
(n_targets, n_conditions_)
            One target (a label, or one value per target column) or several.
            Labels not seen in ``fit`` are refused by name.

        Returns
        -------
        condition : ndarray of shape (n_targets, n_conditions_)
            float64; cast it to the dtype of an exported graph.

        Examples
        --------
        >>> import numpy as np
        >>> from skvae import ConditionalVAE
        >>> X = np.random.RandomState(0).rand(40, 4)
        >>> cvae = ConditionalVAE(max_iter=1, random_state=0).fit(X, ["a", "b"] * 20)
        >>> cvae.encode_condition(["b", "a"])
        array([[0., 1.],
               [1., 0.]])
        """
        check_is_fitted(self)
        return target_rows(self, y, None)[0]

    def sample(
        self, n_samples=1, *, y=None, X=None, random_state=None, decoder_noise="auto"
    ):
        """Generate rows of given classes or targets, or restyle given rows.

        Without ``X``, latents are drawn from the prior N(0, I) and decoded
        given ``y``: new rows of the chosen classes. With ``X``, latents are
        drawn from q(z | x) around each row (which does not depend on its
        class) and decoded given ``y``: the same style, another class.

        Parameters
        ----------
        n_samples : int, default=1
            Rows to generate per target of ``y`` (or in all, with ``y``
            None), or per row of ``X``.
        y : label, target or array-like, default=None
            Without X: one target (``n_samples`` rows of it) or several
            (``n_samples`` rows of each, target by target); None draws the
            classes from ``class_prior_`` (class labels only). With X: one
            target for all rows or one per row; required.
        X : array-like of shape (n_rows, n_features), default=None
            Rows whose style to keep.
        random_state : int, RandomState instance or None, default=None
            Seeds the draws.
        decoder_noise : bool or "auto", default="auto"
            Draw each row from p(x | z, y) instead of returning its mean;
            ``"auto"`` draws for a model fitted on a DataFrame (see
            :meth:`VAETransformer.sample`), means otherwise.

        Returns
        -------
        X_new : ndarray or DataFrame of shape (n_targets * n_samples, \
n_features_in_) or (n_rows * n_samples, n_features_in_)
            The generated rows: rows ``i * n_samples`` to
            ``(i + 1) * n_samples - 1`` come from target ``i`` (or row
            ``X[i]``). A DataFrame when fitted on a mixed-type table.
        """
        check_is_fitted(self)
        check_count(n_samples, "n_samples")
        seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
        generator = make_generator(seed)
        noise = decoder_noise_generator(
            decoder_noise, seed, self.device_, table=fitted_on_frame(self)
        )
        d = self.module_.n_components
        if X is not None:
            if y is None:
                raise ValueError(
                    f"{type(self).__name__}.sample with X restyles its rows as "
                    "the classes (or targets) y: pass y."
                )
            mean, std = self._posterior(X)  # the whole model, as fitted
            condition, _ = target_rows(self, y, mean.shape[0])
            check_output_size(self, (mean.shape[0], n_samples), "sample")
            eps = torch.randn(
                (mean.shape[0], n_samples, d), generator=generator, dtype=torch.float64
            ).numpy()
            z = mean[:, None, :] + std[:, None, :] * eps.astype(mean.dtype)
            condition = np.repeat(condition, n_samples, axis=0)
            return self._decode_given(z.reshape(-1, d), condition, noise)
        if y is None:
            if not hasattr(self, "classes_"):
                raise ValueError(
                    f"{type(self).__name__} was fitted on continuous targets; "
                    "sample needs y."
                )
            check_output_size(self, (n_samples,), "sample")
            prior = torch.as_tensor(self.class_prior_)
            index = torch.multinomial(prior, n_samples, True, generator=generator)
            condition = np.eye(len(prior))[index.numpy()]
        else:
            condition, n_targets = target_rows(self, y, None)
            check_output_size(self, (n_targets, n_samples), "sample")
            condition = np.repeat(condition, n_samples, axis=0)
        z = torch.randn((len(condition), d), generator=generator, dtype=torch.float64)
        return self._decode_given(z.numpy(), condition, noise)

    def interpolate(self, X_start, X_end, n_steps=10, *, y, method="linear"):
        """Decode latent paths between encodings of paired rows, given y.

        As :meth:`VAETransformer.interpolate`, decoded with the class (or
        target) ``y``: one for all paths or one per pair.

        Parameters
        ----------
        X_start, X_end : array-like of shape (n_pairs, n_features)
            Rows the paths start from and end at.
        n_steps : int, default=10
            Points on each path, at least 2.
        y : label, target or array-like of shape (n_pairs,)
            The target each path is decoded with.
        method : {"linear", "spherical"}, default="linear"
            The path (see :meth:`VAETransformer.interpolate`).

        Returns
        -------
        paths : ndarray of shape (n_pairs, n_steps, n_features_in_)
            Decoder means along each path (a DataFrame of
            ``n_pairs * n_steps`` rows when fitted on a mixed-type table).
        """
        check_is_fitted(self)
        check_count(n_steps, "n_steps", minimum=2)
        if not (isinstance(method, str) and method in PATHS):
            raise ValueError(f"method must be one of {sorted(PATHS)}, got {method!r}.")
        # every latent dimension, as fitted (those "auto" dropped stay ~0)
        start, end = self._posterior(X_start)[0], self._posterior(X_end)[0]
        if start.shape[0] != end.shape[0]:
            raise ValueError(
                "X_start and X_end must have the same number of rows (one path "
                f"per pair), got {start.shape[0]} and {end.shape[0]}."
            )
        condition, _ = target_rows(self, y, start.shape[0])
        check_output_size(self, (start.shape[0], n_steps), "interpolate")
        dtype = np.result_type(start, end)
        t = np.linspace(0.0, 1.0, n_steps, dtype=dtype)
        path = PATHS[method](start[:, None, :], end[:, None, :], t[:, None])
        path[:, 0], path[:, -1] = start, end
        decoded = self._decode_given(
            path.reshape(-1, start.shape[1]), np.repeat(condition, n_steps, axis=0)
        )
        if not isinstance(decoded, np.ndarray):
            return decoded
        return decoded.reshape(len(start), n_steps, -1)

    def score_samples(self, X, y=None, *, n_importance=1):
        """Lower bound on log p(x | y) per row, or on log p(x) without y.

        With y, the conditional ELBO (``n_importance=1``) or the
        importance-weighted bound over ``n_importance`` draws, as
        :meth:`VAETransformer.score_samples` computes them. Without y (class
        labels only), ``log sum_c prior_c p(x | c)`` with each term bounded
        so, a lower bound on log p(x) under the classes' training shares.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : array-like of shape (n_samples,) or label, default=None
            The rows' targets.
        n_importance : int, default=1
            Importance samples per row.

        Returns
        -------
        log_likelihood_bound : ndarray of shape (n_samples,)
            In X's dtype.
        """
        check_is_fitted(self)
        check_count(n_importance, "n_importance")
        X = self._check_X(X, reset=False)
        if y is not None:
            condition, _ = target_rows(self, y, X.shape[0])
            return self._bound(X, condition, n_importance)
        if not hasattr(self, "classes_"):
            raise ValueError(
                f"{type(self).__name__} was fitted on continuous targets; "
                "score_samples needs y."
            )
        with np.errstate(divide="ignore"):
            log_prior = np.log(self.class_prior_)
        n = len(self.classes_)
        terms = [
            self._bound(X, np.tile(np.eye(n)[c], (X.shape[0], 1)), n_importance)
            + log_prior[c]
            for c in range(n)
        ]
        terms = np.stack(terms, axis=1)
        top = terms.max(axis=1, keepdims=True)
        total = top[:, 0] + np.log(np.exp(terms - top).sum(axis=1))
        return total.astype(X.dtype)

    def _bound(self, X, condition, n_importance):
        rows = np.hstack([X, condition.astype(X.dtype)])
        likelihood = self.likelihood_
        if n_importance > 1:
            return self.map_batches(
                lambda m, x: iwae_rows(m, likelihood, x, n_importance, _IWAE_VALUES),
                rows,
            )
        # the noise derives from the data only: the same draw for every class
        eps = row_normal_noise(X, (self.module_.n_components,)).astype(X.dtype)

        def elbo(module, x, e):
            recon, kl = elbo_terms(module, likelihood, x, eps=e)
            return -(recon + kl)

        return self.map_batches(elbo, rows, eps)

    def score(self, X, y=None, *, n_importance=1):
        """Mean of :meth:`score_samples` over the rows: higher is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to score.
        y : array-like of shape (n_samples,), default=None
            The rows' targets; None gives the bound on log p(x).
        n_importance : int, default=1
            Importance samples per row.

        Returns
        -------
        score : float
            In nats per row.
        """
        return float(np.mean(self.score_samples(X, y, n_importance=n_importance)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
