"""The scikit-learn face shared by skvae's autoencoders.

``_BaseAutoencoder`` holds what the variational and the deterministic
autoencoder have in common: parameter checks, data validation, building the
module, the call into the training loop, encoding, decoding and pickling.
Subclasses declare their constructor and say how they are trained through
:meth:`_loss_config`.
"""

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
from sklearn.utils.validation import check_array, check_is_fitted
from tqdm.auto import tqdm

from . import _gaussian, _mixed  # noqa: F401  (register their likelihoods)
from ._architectures import Architecture, make_architecture, probe
from ._components import (
    check_latents,
    derive_kept,
    derive_width,
    encoder_means,
    latent_width,
)
from ._init import initialize_from_data
from ._likelihoods import COVARIANCES, LIKELIHOODS, Likelihood
from ._module import ACTIVATIONS, VAEModule
from ._optim import make_optimizer
from ._parallel import data_parallel_world, rows_across_processes
from ._persistence import (
    Float,
    Floats,
    Instance,
    Int,
    OutputConfig,
    Records,
    Stored,
    StrArray,
    Table,
    later_params,
)
from ._persistence import save as _save
from ._state import discard_fitted_state as _discard_fitted_state
from ._state import transaction as _transaction
from ._training import Rows, train
from ._utils import (
    as_tensor,
    converted_module,
    fits_on_device,
    make_generator,
    resolve_device,
    state_dict_to_cpu,
    to_numpy,
)
from ._validation import (
    _InputChecks,
    check_float32_range,
    check_hidden_layer_sizes,
)

#: ``early_stopping="auto"`` holds out rows from this many on (as
#: ``HistGradientBoosting*`` does from 10,000): on digits' 1,347 training rows
#: it stopped default fits after a median of 212 epochs (docs: How long to
#: train); fewer rows stop on the training loss, a tenth being too few to tell.
AUTO_EARLY_STOPPING_ROWS = 1000

# Rows per forward pass at inference: bounds memory, never changes results.
_INFERENCE_BATCH = 4096

#: every attribute ``fit`` sets on an autoencoder, for the file format (in an
#: order where sizes are checked before what they size)
FITTED_ATTRIBUTES = {
    "_sklearn_output_config": OutputConfig(optional=True, unfitted=True),
    "n_features_in_": Int(low=1),
    "n_latent_": Int(low=1, derive=derive_width),
    "tabular_": Table(optional=True),
    "feature_names_in_": StrArray("n_features_in_", optional=True),
    "_random_state": Instance(np.random.RandomState),
    "device_": Instance(torch.device),
    "likelihood_": Instance(Likelihood),
    "module_": Stored(),
    "optimizer_": Stored(),
    "n_iter_": Int(low=0),
    "loss_curve_": Floats(length="n_iter_"),
    "history_": Records(
        ("loss", "recon", "kl", "val_loss"),
        optional_keys=("kl_weight",),
        length="n_iter_",
    ),
    "best_loss_": Float(nullable=True, finite=False),
    "validation_scores_": Floats(max_length="n_iter_", nullable=True),
    "best_validation_score_": Float(nullable=True, finite=False),
    "n_threads_": Int(low=1, optional=True),
}
#: the kept latent columns, declared after what ``"auto"`` derives them from
KEPT_COMPONENTS = {"n_components_": Int(low=1, high="n_latent_", derive=derive_kept)}


class _BaseAutoencoder(
    _InputChecks, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Common base of the autoencoder estimators; not for direct use."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "hidden_layer_sizes": ["array-like"],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "architecture": [StrOptions({"mlp", "conv"}), Architecture],
        "image_shape": [None, "array-like"],
        "likelihood": [StrOptions(set(LIKELIHOODS)), Likelihood],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean", StrOptions({"auto"})],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, 1, closed="both")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "mixed_precision": ["boolean"],
        "missing": [StrOptions({"error", "mask"})],
        "numeric_scaling": [StrOptions({"auto", "standard", "quantile"})],
        "covariance": [StrOptions(set(COVARIANCES))],
        "handle_unknown": [StrOptions({"error", "missing"})],
    }

    def _loss_config(self):
        """Keyword arguments of :func:`skvae._training.train` that define the loss."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the model to X by minimising its training loss.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        A refused or failed fit changes nothing: on any exception but
        ``KeyboardInterrupt`` every attribute is left as it was before the
        call (a fitted model keeps its weights, optimizer state and history
        bit for bit, an unfitted one gains no fitted attribute). A
        ``KeyboardInterrupt`` during training keeps the weights of the last
        completed epoch and warns.
        """
        keep = self.warm_start and hasattr(self, "module_")
        with _transaction(self, keep):
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
        self : object
            The updated estimator.

        Notes
        -----
        As with :meth:`fit`, a call that raises (anything but a
        ``KeyboardInterrupt``) leaves every attribute as it was.
        """
        keep = hasattr(self, "module_")
        with _transaction(self, keep):
            X = self._check_X(X, reset=not keep)
            return self._fit(X, n_epochs=1, keep=keep, incremental=True)

    def _fit(self, X, *, n_epochs, keep, incremental, condition=None):
        """Train on X; ``condition`` (rows of X's dtype) is what a conditional
        decoder reads besides z, carried as the last columns of the data."""
        check_float32_range(X)
        validation = self._stops_on_validation(X.shape[0])
        early_stopping = validation and not incremental
        if early_stopping:  # checked before anything is replaced
            self._n_validation(X.shape[0])
        n_conditions = 0 if condition is None else condition.shape[1]
        if not keep:  # (partial_fit never holds rows out, but records as fit)
            self._initialize(X.shape[1], validation, n_conditions)
        seed = self._random_state.randint(np.iinfo(np.int32).max)
        # In data-parallel training each rank draws its own shuffles and noise.
        generator = make_generator(seed + data_parallel_world()[0], self.device_)

        data = self._data_tensor(X if condition is None else np.hstack([X, condition]))
        train_rows = val_rows = None
        if early_stopping:
            train_rows, val_rows = self._split_validation(X.shape[0])
        X_train = Rows(data, self.device_, train_rows)
        X_val = None if val_rows is None else Rows(data, self.device_, val_rows)
        if not keep:  # a fresh start: outputs at the training rows' moments
            initialize_from_data(self.module_, self.likelihood_, X_train)

        progress = tqdm(
            total=n_epochs, disable=not self.verbose, desc=type(self).__name__
        )
        with progress as bar:

            def on_epoch(record):
                keys = [k for k in ("loss", "val_loss") if record[k] is not None]
                bar.set_postfix({k: record[k] for k in keys})
                bar.update()

            result = train(
                self.module_,
                self.likelihood_,
                self.optimizer_,
                X_train,
                n_epochs=n_epochs,
                batch_size=min(self.batch_size, len(X_train)),
                generator=generator,
                **self._loss_config(),
                mixed_precision=self.mixed_precision,
                first_epoch=self.n_iter_,
                X_val=X_val,
                tol=self.tol,
                n_iter_no_change=self.n_iter_no_change,
                stop_early=not incremental,
                on_epoch=on_epoch,
            )

        # new lists, never extended in place: a failed call restores the old ones
        self.history_ = self.history_ + result.history
        self.loss_curve_ = self.loss_curve_ + [r["loss"] for r in result.history]
        self.n_iter_ += len(result.history)
        self.n_threads_ = result.n_threads
        name = type(self).__name__
        if result.diverged_epoch is not None and not self.loss_curve_:
            # Nothing usable was learned: leave no half-fitted estimator behind.
            _discard_fitted_state(self)
            raise ValueError(
                f"{name}: the training loss was not finite in epoch "
                f"{result.diverged_epoch} and no epoch before had a finite loss, so "
                "the estimator is left as it was before this call. Use a smaller "
                "learning_rate_init "
                f"(now {self.learning_rate_init:g}) or scale X (e.g. with "
                "StandardScaler)."
            )
        if early_stopping:
            # (None when early_stopping was switched on for a warm-start fit)
            self.validation_scores_ = (self.validation_scores_ or []) + [
                -r["val_loss"] for r in result.history
            ]
            if self.validation_scores_:
                self.best_validation_score_ = max(self.validation_scores_)
        elif self.loss_curve_:
            self.best_loss_ = min(self.loss_curve_)
        if result.diverged_epoch is not None:
            warnings.warn(
                f"{name}: the training loss became non-finite in epoch "
                f"{result.diverged_epoch}; training stopped and the weights of the "
                "last epoch with a finite loss were restored (the best validation "
                "epoch's with early_stopping). A smaller learning_rate_init (now "
                f"{self.learning_rate_init:g}) may help.",
                ConvergenceWarning,
            )
        elif result.interrupted:
            warnings.warn(
                f"{name}: training interrupted (KeyboardInterrupt) after "
                f"{self.n_iter_} epochs; the weights of the last completed epoch "
                "were kept (the best validation epoch's with early_stopping).",
                UserWarning,
            )
        elif not incremental and not result.converged:
            warnings.warn(
                f"{type(self).__name__}: maximum iterations ({self.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        self._after_training(X)
        return self

    def _after_training(self, X):
        """Hook run at the end of every fit and partial_fit, on the data seen.

        Subclasses set attributes learned from the trained model here (for
        instance the order of the latent dimensions); the base does nothing.
        """

    def _stops_on_validation(self, n_samples):
        """Whether a fit on ``n_samples`` rows stops on held-out rows:
        ``early_stopping``, where ``"auto"`` means from
        :data:`AUTO_EARLY_STOPPING_ROWS` rows on."""
        if self.early_stopping == "auto":  # by the rows of every process
            return rows_across_processes(n_samples) >= AUTO_EARLY_STOPPING_ROWS
        return bool(self.early_stopping)

    def _initialize(self, n_features, validation=False, n_conditions=0):
        """Build the fitted state afresh: device, likelihood, module, optimizer;
        ``validation``: whether validation scores will be recorded;
        ``n_conditions``: columns a conditional decoder reads besides z."""
        hidden = check_hidden_layer_sizes(self.hidden_layer_sizes)
        architecture = self._architecture(n_features)  # checked before any change
        self._random_state = check_random_state(self.random_state)
        self.device_ = resolve_device(self.device)
        self.likelihood_ = self._make_likelihood(n_features)
        # "auto": a width by the number of columns; subclasses keep fewer
        width = latent_width(self.n_components, self.n_features_in_)
        self.n_latent_ = self.n_components_ = width
        with torch.device("meta"):
            module = VAEModule(
                n_features,
                width,
                self.likelihood_.n_params(n_features),
                hidden_layer_sizes=hidden,
                activation=self.activation,
                n_shared=self.likelihood_.n_shared_params(n_features),
                n_conditions=n_conditions,
                **architecture,
            )
        module = module.to_empty(device="cpu")
        # Initialise on the CPU so that the same seed gives the same start anywhere.
        module.reset_parameters(
            make_generator(self._random_state.randint(np.iinfo(np.int32).max))
        )
        if architecture:  # eval: a probe must not move a norm layer's statistics
            probe(module.eval().encoder, module.decoder, n_features, width,
                  module.spec["n_outputs"] - module.spec["n_shared"])
        self.module_ = module.to(self.device_).eval()
        self.optimizer_ = make_optimizer(
            self.module_.parameters(), self.learning_rate_init
        )
        self.loss_curve_, self.history_, self.n_iter_ = [], [], 0
        self.best_loss_ = None
        self.validation_scores_ = [] if validation else None
        self.best_validation_score_ = None

    def _architecture(self, n_features):
        """``VAEModule``'s architecture arguments; {} for the MLP. Checked
        before anything is built: a ValueError names what does not fit."""
        architecture = make_architecture(self.architecture)
        if architecture is None:
            return {}
        if hasattr(self, "tabular_"):
            raise ValueError(
                f"architecture={self.architecture!r} models arrays of pixels; "
                "tables (mixed-type DataFrames, missing='mask', "
                "numeric_scaling='quantile') need architecture='mlp'."
            )
        image_shape = self.image_shape
        architecture.check_params(image_shape, n_features)
        return {"architecture": architecture, "image_shape": image_shape}

    def _n_validation(self, n_samples):
        """Number of validation rows; a ValueError if a part would be empty."""
        n_val = int(round(self.validation_fraction * n_samples))
        if n_val < 1 or n_val >= n_samples:
            raise ValueError(
                f"early_stopping with validation_fraction={self.validation_fraction} "
                f"leaves no validation or no training rows out of {n_samples}; "
                "provide more rows or change validation_fraction."
            )
        return n_val

    def _split_validation(self, n_samples):
        """Row indices of the training and the validation part, as tensors."""
        n_val = self._n_validation(n_samples)
        perm = torch.from_numpy(self._random_state.permutation(n_samples))
        return perm[n_val:], perm[:n_val]

    def _data_tensor(self, X):
        """The training data as a tensor, without a host copy where possible.

        A C-contiguous float32 or float64 array (a ``numpy.memmap`` included)
        is wrapped in place and batches are converted to float32 as they are
        drawn. On a GPU the data is copied to the device once, as float32,
        when it takes less than half of the free device memory; otherwise
        batches are copied as needed from pinned host memory.
        """
        tensor = as_tensor(np.ascontiguousarray(X), "cpu")
        if self.device_.type != "cpu" and fits_on_device(
            self.device_, X.shape[0] * X.shape[1] * 4
        ):
            tensor = tensor.to(self.device_, torch.float32)
        return tensor

    # ------------------------------------------------------------- inference

    def _inference_module(self, dtype):
        """``module_`` in the given dtype, for inference in the caller's precision.

        Float64 inference keeps results independent of how rows are batched
        to well below 1e-7; the float32 module is used as is.
        """
        if dtype == torch.float32:
            return self.module_
        return converted_module(self.module_, dtype)

    def map_batches(self, fn, *arrays):
        """Stack ``fn(module, *batches)`` over batches of rows of ``arrays``.

        Each batch is a tensor on ``device_`` in the first array's dtype
        (float64 or float32), ``module`` is ``module_`` in that dtype, and
        ``fn`` runs under ``torch.inference_mode``; the results come back as
        one NumPy array. For estimators wrapping this one, on the output of
        :meth:`prepare_input`.
        """
        dtype = torch.float64 if arrays[0].dtype == np.float64 else torch.float32
        module = self._inference_module(dtype)
        out = []
        with torch.inference_mode():
            for start in range(0, max(len(arrays[0]), 1), _INFERENCE_BATCH):
                batch = [
                    as_tensor(a[start : start + _INFERENCE_BATCH], self.device_, dtype)
                    for a in arrays
                ]
                out.append(to_numpy(fn(module, *batch)))
        return out[0] if len(out) == 1 else np.concatenate(out)

    def transform(self, X):
        """Encode X as the means of q(z | x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to encode.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components_)
            Latent means, in X's floating dtype.
        """
        if "module_" not in self.__dict__:  # skip get_tags on the fitted path
            check_is_fitted(self)
        X = self._check_X(X, reset=False)
        return self.map_batches(encoder_means(self.n_components_), X)

    def inverse_transform(self, X):
        """Decode latent points to the mean of p(x | z) in data space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)
            Latent points, for instance the output of :meth:`transform`;
            latent dimensions that ``n_components="auto"`` dropped are
            decoded at 0, the prior mean.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features_in_)
            Decoded data, in the latent points' floating dtype.
            A DataFrame with the fitted columns and dtypes when the model
            was fitted on a DataFrame as a table (see ``tabular_``).
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float64, np.float32], input_name="X")
        return self._decode(check_latents(self, Z))

    def _decode(self, Z, generator=None):
        """Decoder means at the latent rows Z, or draws from p(x | z) with a
        ``generator``; as a table when fitted on one."""
        if generator is None:

            def decode(module, z):
                return self.likelihood_.mean(module.decode(z))

        else:

            def decode(module, z):
                return self.likelihood_.sample(module.decode(z), generator)

        out = self.map_batches(decode, Z)
        if hasattr(self, "tabular_"):
            return self.tabular_.inverse_transform(out, dtype=out.dtype)
        return out

    # ---------------------------------------------------------- persistence

    def save(self, path):
        """Save the estimator to one file that :func:`skvae.load` reads without pickle.

        The file is a safetensors file: the weights and the optimizer's state as
        tensors (on the CPU whatever the device), the parameters, fitted
        attributes and library versions as JSON metadata. Models fitted on
        mixed-type DataFrames, with ``missing="mask"`` or with
        ``numeric_scaling="quantile"`` are saved with their table encoding
        (column kinds, scales, quantiles, categories and dtypes), so the loaded
        model returns the same DataFrames. Loading it runs no code, unlike
        pickle or joblib; see :func:`skvae.load`.

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
            names it), for instance a custom likelihood class.
        ValueError
            If the parameters were changed after ``fit`` so that they no longer
            describe the fitted module.

        Examples
        --------
        >>> import os, tempfile
        >>> import numpy as np
        >>> import skvae
        >>> X = np.random.RandomState(0).normal(size=(50, 4))
        >>> vae = skvae.VAETransformer(hidden_layer_sizes=(8,), max_iter=2,
        ...                            device="cpu", random_state=0).fit(X)
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     path = os.path.join(tmp, "vae.safetensors")
        ...     vae.save(path)
        ...     loaded = skvae.load(path)
        >>> np.array_equal(loaded.transform(X), vae.transform(X))
        True
        """
        _save(self, path)

    # --------------------------------------------------------- sklearn glue

    @property
    def _n_features_out(self):
        if "module_" in self.__dict__:  # the kept width once fitted
            return self.n_components_
        if isinstance(self.n_components, str):  # "auto": known after fit only
            raise AttributeError("_n_features_out")
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.input_tags.allow_nan = self._allows_missing()
        return tags

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never alter self
        if "module_" in state:
            module = state["module_"]
            if self.device_.type != "cpu":
                module = copy.deepcopy(module).cpu()
            state["module_"] = module
            state["optimizer_"] = state_dict_to_cpu(self.optimizer_.state_dict())
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        # pickled before these parameters existed: the behaviour of their defaults
        for name, value in later_params(type(self)).items():
            self.__dict__.setdefault(name, value)
        if "module_" not in state:
            return
        for name in ("n_latent_", "n_components_"):  # pickled before they existed
            self.__dict__.setdefault(name, self.module_.n_components)
        try:
            device = resolve_device(self.device_)
        except ValueError:
            warnings.warn(
                f"{type(self).__name__} was fitted on {self.device_}, which is not "
                "available; it is loaded on the CPU.",
                UserWarning,
            )
            device = torch.device("cpu")
        self.device_ = device
        self.module_ = self.module_.to(device)
        optimizer_state = self.optimizer_
        self.optimizer_ = make_optimizer(self.module_.parameters(), 1e-3)
        self.optimizer_.load_state_dict(optimizer_state)
