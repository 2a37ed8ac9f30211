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
from ._tabular import TabularEncoder, is_frame, needs_tabular, resolve_numeric
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
            and _within_float32(X)  # also every value finite
        )

    def _allows_missing(self):
        """Whether X may hold missing values (``missing="mask"``)."""
        return self.missing == "mask"

    def _numbers_as_table(self):
        """Whether a DataFrame of numbers is a table (its columns scaled one
        by one, a DataFrame back): under the default ``likelihood="gaussian"``
        on the MLP. Another likelihood, or a convolutional or custom network,
        models the numbers as given, as an array."""
        likelihood, architecture = self.likelihood, self.architecture
        return bool(
            isinstance(likelihood, str)
            and likelihood == "gaussian"
            and isinstance(architecture, str)
            and architecture == "mlp"
        )

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
        if self.handle_unknown == "missing" and not self._allows_missing():
            raise ValueError(
                "handle_unknown='missing' treats unseen categories as missing "
                f"values, which needs missing='mask', got missing={self.missing!r}."
            )
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
        X = self._check_array_type(X)
        if (
            reset
            and needs_tabular(
                X,
                self._allows_missing(),
                self.numeric_scaling,
                numbers_as_table=self._numbers_as_table(),
            )
        ) or (not reset and hasattr(self, "tabular_")):
            X = self._check_table(X, reset=reset)  # its likelihood fits it
            if not reset:
                check_float32_range(X)
            return X
        if reset and hasattr(self, "tabular_"):
            del self.tabular_
        if reset or not self._is_clean_array(X):
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
        if not X.dtype.isnative:  # DataFrames keep big-endian columns as they are
            X = X.astype(X.dtype.newbyteorder("="))
        if not reset:  # fit checks the range itself
            check_float32_range(X)
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

    def _check_array_type(self, X):
        """Refuse the arrays check_array would silently misread.

        Dates and durations (``datetime64``, ``timedelta64``) would become
        integers since the epoch; a masked array would lose its mask. With
        ``missing="mask"`` masked entries become NaN, that is missing (a
        documented conversion); otherwise a masked array with masked entries
        is refused, and one without any is taken as its data.
        """
        dtype = getattr(X, "dtype", None)
        if isinstance(dtype, np.dtype) and dtype.kind in "mM":
            raise TypeError(
                f"X has dtype {dtype}: dates and durations are not modelled as "
                "numbers without a choice of unit and origin; convert X to "
                "numbers first (for instance X.astype('timedelta64[s]')"
                ".astype(float) for durations in seconds)."
            )
        if isinstance(X, np.ma.MaskedArray):
            mask = np.ma.getmaskarray(X)
            if mask.any():
                if not self._allows_missing():
                    raise ValueError(
                        f"X is a masked array with {int(mask.sum())} masked "
                        "entries; pass missing='mask' to treat them as missing "
                        "values, or fill them first (X.filled(...))."
                    )
                if X.dtype.kind not in "fc":
                    X = X.astype(np.float64)
                return X.filled(np.nan)
            return np.asarray(X.data)
        return X

    def _check_table(self, X, *, reset):
        """Encode a table (a DataFrame, or incomplete data) with ``tabular_``.

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
                    "Mixed-type DataFrames, incomplete data and "
                    "numeric_scaling='quantile' are modelled column by column "
                    "(Gaussian, Bernoulli or categorical by dtype); they need "
                    f"likelihood='gaussian', got {self.likelihood!r}."
                )
            _check_feature_names(self, X, reset=True)
            encoder = TabularEncoder(
                allow_missing=self._allows_missing(),
                numeric=resolve_numeric(self.numeric_scaling, is_frame(X)),
                covariance=self.covariance,
            ).fit(X)
            self.n_features_in_ = encoder.n_columns
            self.tabular_ = encoder
        else:
            _check_feature_names(self, X, reset=False)
        return self.tabular_.transform(
            X, owner=type(self).__name__, handle_unknown=self.handle_unknown
        )


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _within_float32(X):
    """Whether every value of the float array X is finite and within float32.

    One pass: the largest magnitude is NaN or infinite when any value is.
    """
    if X.dtype == np.float32:
        return bool(np.isfinite(X.sum()))
    return bool(np.abs(X).max() <= _FLOAT32_MAX)


def check_float32_range(X):
    """Raise a ValueError if the float matrix X has finite values beyond
    the float32 range, in which the model is trained and evaluated."""
    if X.dtype == np.float64 and X.size and not _within_float32(X):
        finite = X[np.isfinite(X)]  # NaN and inf are the other checks' to refuse
        if finite.size and np.abs(finite).max() > _FLOAT32_MAX:
            raise ValueError(
                "X has values beyond the float32 range (about 3.4e38) in which "
                "the model is trained; scale X first (e.g. with StandardScaler)."
            )


def check_count(value, name, minimum=1):
    """Raise a ValueError unless ``value`` is an integer of at least ``minimum``."""
    if not isinstance(value, Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(
            f"{name} must be an integer of at least {minimum}, got {value!r}."
        )


def decoder_noise_generator(decoder_noise, seed, device, *, table=False):
    """The generator of the draws from p(x | z), or None for decoder means.

    A second stream derived from ``seed``, so that the latent draws do not
    depend on whether the decoder's noise is drawn too. ``"auto"`` draws
    when the rows come back as a table (``table``, a model fitted on a
    DataFrame) and returns means otherwise (arrays, images).
    """
    if isinstance(decoder_noise, str) and decoder_noise == "auto":
        decoder_noise = table
    if not isinstance(decoder_noise, bool | np.bool_):
        raise TypeError(
            f"decoder_noise must be True, False or 'auto', got {decoder_noise!r}."
        )
    return make_generator(seed ^ 0x5F3759DF, device) if decoder_noise else None


def fitted_on_frame(estimator):
    """Whether a fitted estimator's rows come back as a DataFrame (a table)."""
    tabular = getattr(estimator, "tabular_", None)
    return bool(getattr(tabular, "frame_", False))



def check_hidden_layer_sizes(hidden_layer_sizes):
    """``hidden_layer_sizes`` as a tuple of ints, or a ValueError naming it.

    A flat sequence (or one integer) of positive Python or NumPy integers;
    bools, floats, strings and None are refused rather than converted.
    """
    value = hidden_layer_sizes
    if isinstance(value, Integral) and not isinstance(value, bool | np.bool_):
        value = (value,)
    if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        raise ValueError(
            "hidden_layer_sizes must be a flat sequence of positive integers, "
            f"got {hidden_layer_sizes!r}."
        )
    sizes = []
    for h in value:
        if (
            not isinstance(h, Integral)
            or isinstance(h, bool | np.bool_)
            or h < 1
        ):
            raise ValueError(
                "hidden_layer_sizes must be a flat sequence of positive "
                f"integers, got {hidden_layer_sizes!r} (bad value {h!r})."
            )
        sizes.append(int(h))
    return tuple(sizes)


#: the most memory an output of sample, interpolate or sample_imputations
#: may need; larger requests are refused up front rather than failing in torch
MAX_OUTPUT_BYTES = 2**34  # 16 GiB


def check_output_size(estimator, rows, what, itemsize=8):
    """Raise a ValueError when ``rows`` (a shape) of the fitted estimator's
    rows, or latents if wider, would exceed :data:`MAX_OUTPUT_BYTES`."""
    width = estimator.module_.n_components  # as fitted, "auto" or not
    shape = (*rows, max(width, estimator.n_features_in_))
    n_bytes = itemsize
    for n in shape:
        n_bytes *= int(n)
    if n_bytes > MAX_OUTPUT_BYTES:
        raise ValueError(
            f"{what} would need {n_bytes / 2**30:.3g} GiB for an output of shape "
            f"{tuple(int(n) for n in shape)}, more than the "
            f"{MAX_OUTPUT_BYTES / 2**30:g} GiB skvae allows in one call; ask "
            "for fewer rows per call."
        )
