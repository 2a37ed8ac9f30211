"""Input checks of the autoencoder estimators: arrays, tables and likelihoods.

:class:`_InputChecks` is mixed into :class:`skvae._base._BaseAutoencoder`. It
turns what a user passes to ``fit`` or ``transform`` into the float matrix the
module takes: scikit-learn's ``validate_data`` for arrays (skipped for clean
float arrays at inference, the larger part of a single row's cost), the table
encoder for mixed-type or incomplete data, and the likelihood's support.
"""

from numbers import Integral

import numpy as np
from sklearn.utils.validation import (
    _check_feature_names,
    check_array,
    check_is_fitted,
    validate_data,
)

from ._likelihoods import Likelihood, make_likelihood
from ._tabular import TabularEncoder, is_frame, needs_tabular
from ._utils import make_generator

#: what validating ``fit``'s X sets; a refused fit puts it back as it was
_DATA_STATE = ("n_features_in_", "feature_names_in_", "tabular_")


class _InputChecks:
    """Validation and encoding of X for the autoencoder estimators."""

    def _is_clean_array(self, X):
        """Whether X is a plain, finite float array of the fitted width.

        Such input needs no conversion, so inference skips sklearn's
        ``validate_data`` (the larger part of a single-row ``transform``'s
        time). Anything else, and every case that ends in an error or a
        warning (an estimator fitted with feature names included), goes
        through ``validate_data`` for the usual checks and messages.
        """
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype in (np.float32, np.float64)
            and X.dtype.isnative
            and 0 < X.shape[0]
            and X.shape[1] == self.n_features_in_
            and not hasattr(self, "feature_names_in_")
            and not hasattr(self, "tabular_")
            and np.isfinite(X.sum())  # finite sum: every value finite
        )

    def _allows_missing(self):
        """Whether X may hold missing values (``missing="mask"``)."""
        return self.missing == "mask"

    def _make_likelihood(self, n_features):
        """The likelihood ``fit`` trains on ``n_features`` encoded columns: the
        table encoder's, else :func:`~skvae._likelihoods.make_likelihood`'s."""
        if hasattr(self, "tabular_"):
            return self.tabular_.likelihood()
        return make_likelihood(
            self.likelihood, covariance=self.covariance, n_features=n_features
        )

    def prepare_input(self, X):
        """X checked as :meth:`transform` does, as the fitted module's input.

        A table is encoded by ``tabular_``, with one observation indicator
        per column after the data columns with ``missing="mask"``. For
        estimators wrapping this one, with :meth:`map_batches`.
        """
        check_is_fitted(self)
        return self._check_X(X, reset=False)

    def _check_X(self, X, *, reset):
        if not reset:
            return self._validated(X, reset=False)
        if isinstance(self.likelihood, Likelihood):  # before looking at the data
            self.likelihood.check_params()
        before = {k: self.__dict__[k] for k in _DATA_STATE if k in self.__dict__}
        try:  # validation sets _DATA_STATE; a refused fit restores it
            return self._validated(X, reset=True)
        except BaseException:
            for key in _DATA_STATE:
                self.__dict__.pop(key, None)
            self.__dict__.update(before)
            raise

    def _validated(self, X, *, reset):
        if (
            reset and needs_tabular(X, self._allows_missing(), self.numeric_scaling)
        ) or (not reset and hasattr(self, "tabular_")):
            return self._check_table(X, reset=reset)  # its likelihood fits it
        if reset and hasattr(self, "tabular_"):
            del self.tabular_
        if reset or not self._is_clean_array(X):
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
        if not X.dtype.isnative:  # DataFrames keep big-endian columns as they are
            X = X.astype(X.dtype.newbyteorder("="))
        likelihood = self._make_likelihood(X.shape[1]) if reset else self.likelihood_
        if reset:
            likelihood.check_n_features(X.shape[1])
        low, high = likelihood.support
        bounded = np.isfinite(low) or np.isfinite(high)
        if bounded and X.size and (X.min() < low or X.max() > high):
            raise ValueError(
                f"likelihood={self.likelihood!r} needs X in [{low}, {high}], "
                f"got values in [{X.min():.4g}, {X.max():.4g}]."
            )
        return X

    def _check_table(self, X, *, reset):
        """Encode a mixed-type or incomplete table with ``tabular_``.

        On ``reset`` the encoder is fitted and stored as ``tabular_``; it
        scales numeric columns (``numeric_scaling``), one-hot encodes
        categorical ones and, with missing values allowed, appends an
        observation indicator per column (see :mod:`skvae._tabular`).
        """
        if not is_frame(X):
            # fitted: the encoder's setting, whatever set_params did since
            masked = self._allows_missing() if reset else self.tabular_.allow_missing
            X = check_array(
                X,
                dtype=[np.float64, np.float32],
                ensure_all_finite="allow-nan" if masked else True,
            )
        if reset:
            # the encoder picks each column's likelihood; only the default stands
            if not (isinstance(self.likelihood, str) and self.likelihood == "gaussian"):
                raise ValueError(
                    "Mixed-type or incomplete data, and numeric_scaling='quantile', "
                    "are modelled column by column (Gaussian, Bernoulli or "
                    "categorical by dtype); they need "
                    f"likelihood='gaussian', got {self.likelihood!r}."
                )
            _check_feature_names(self, X, reset=True)
            encoder = TabularEncoder(
                allow_missing=self._allows_missing(),
                numeric=self.numeric_scaling,
                covariance=self.covariance,
            ).fit(X)
            self.n_features_in_ = encoder.n_columns
            self.tabular_ = encoder
        else:
            _check_feature_names(self, X, reset=False)
        return self.tabular_.transform(X, owner=type(self).__name__)


def check_count(value, name, minimum=1):
    """Raise a ValueError unless ``value`` is an integer of at least ``minimum``."""
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"{name} must be an integer of at least {minimum}, got {value!r}."
        )


def decoder_noise_generator(decoder_noise, seed, device):
    """The generator of the draws from p(x | z), or None for decoder means.

    A second stream derived from ``seed``, so that the latent draws do not
    depend on whether the decoder's noise is drawn too.
    """
    if not isinstance(decoder_noise, bool | np.bool_):
        raise TypeError(f"decoder_noise must be True or False, got {decoder_noise!r}.")
    return make_generator(seed ^ 0x5F3759DF, device) if decoder_noise else None
