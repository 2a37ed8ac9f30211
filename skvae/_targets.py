"""The targets a conditional model is fitted on, as the columns its decoder reads.

Class labels are encoded as a classifier encodes them (``classes_``, sorted
as ``np.unique`` sorts them) and given to the decoder one-hot; continuous
targets (one or several columns) are standardised. Everything else
scikit-learn's ``type_of_target`` recognises (multilabel indicators,
multiclass-multioutput targets, unknown types) is refused by name.
"""

import numpy as np
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_array, column_or_1d

__all__ = ["fit_targets", "encode_targets", "target_rows"]

_CLASSES = {"binary", "multiclass"}
_CONTINUOUS = {"continuous", "continuous-multioutput"}


def _as_array(y, name):
    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None.")
    try:
        return check_array(
            y, ensure_2d=False, dtype=None, ensure_all_finite=True, input_name="y"
        )
    except TypeError as exc:
        raise TypeError(f"{name}: y is not an array of targets ({exc}).") from None


def fit_targets(estimator, y, n_samples, classes=None):
    """The fitted attributes of the targets ``y`` of ``n_samples`` rows.

    ``classes``, when given with class labels, lists every label (those of
    ``y`` among them), as ``partial_fit`` takes it.

    Returns a dict: ``classes_`` and ``class_prior_`` for class labels,
    ``y_mean_`` and ``y_scale_`` for continuous targets, and always
    ``n_conditions_``; a ValueError for a target of another kind or length.
    """
    name, every = type(estimator).__name__, classes
    y = _as_array(y, name)
    _check_length(y, n_samples, name)
    kind = estimator.target
    if kind == "auto":
        found = type_of_target(y, input_name="y")
        if found in _CLASSES:
            kind = "classes"
        elif found in _CONTINUOUS:
            kind = "continuous"
        elif found == "unknown":
            raise ValueError(
                f"{name}: Unknown label type of y (neither class labels nor "
                "numeric targets); pass target='classes' or 'continuous' to choose."
            )
        else:
            raise ValueError(
                f"{name} conditions on class labels (binary or multiclass y) or "
                f"continuous targets, got y of type {found!r}; multilabel and "
                "multiclass-multioutput targets are not supported. Pass "
                "target='classes' or target='continuous' to choose."
            )
    if kind == "classes":
        if y.ndim == 2 and y.shape[1] != 1:
            raise ValueError(
                f"{name} with class labels needs y of shape (n_samples,), got "
                f"shape {y.shape}."
            )
        y = column_or_1d(y, warn=True)
        try:
            classes, index = np.unique(y, return_inverse=True)
        except TypeError:
            raise TypeError(
                f"{name}: the class labels in y cannot be sorted (mixed types?)."
            ) from None
        if every is not None:
            every = np.unique(column_or_1d(_as_array(every, name)))
            known = every.astype(object) if every.dtype.kind == "U" else every
            index = _class_index(known, y, name)
            classes = every
        if classes.dtype.kind == "O" and not all(type(c) is str for c in classes):
            raise TypeError(f"{name}: class labels must be numbers, booleans or str.")
        if classes.dtype.kind == "U":
            classes = classes.astype(object)
        prior = np.bincount(index, minlength=len(classes)) / len(index)
        return {
            "n_conditions_": len(classes),
            "classes_": classes,
            "class_prior_": prior.astype(np.float64),
        }
    y = _numeric(y, name)
    y = y.reshape(len(y), -1)
    mean = y.mean(axis=0)
    scale = y.std(axis=0)
    scale[~(scale > 1e-12 * np.maximum(1.0, np.abs(mean)))] = 1.0  # a constant
    return {"n_conditions_": y.shape[1], "y_mean_": mean, "y_scale_": scale}


def _numeric(y, name):
    if y.dtype.kind not in "biuf":
        raise ValueError(
            f"{name} with continuous targets needs numeric y, got dtype {y.dtype}."
        )
    if y.ndim > 2:
        raise ValueError(f"{name}: y must be 1-D or 2-D, got {y.ndim} dimensions.")
    return y.astype(np.float64)


def _check_length(y, n_samples, name):
    if y.ndim == 0 or y.shape[0] != n_samples:
        shape = y.shape if y.ndim else "a scalar"
        raise ValueError(
            f"{name}: y must have one target per row of X ({n_samples} rows), "
            f"got {shape}."
        )


def encode_targets(estimator, y):
    """The decoder's condition columns for the rows' targets ``y`` (an array
    of one target per row), from the fitted attributes; float64."""
    name = type(estimator).__name__
    classes = getattr(estimator, "classes_", None)
    if classes is not None:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y.ravel()
        if y.ndim != 1:
            raise ValueError(
                f"{name}: y must hold one class label per row, got shape {y.shape}."
            )
        index = _class_index(classes, y, name)
        out = np.zeros((len(y), len(classes)))
        out[np.arange(len(y)), index] = 1.0
        return out
    y = _numeric(_as_array(y, name) if np.ndim(y) else np.asarray(y), name)
    n = estimator.n_conditions_
    y = y.reshape(-1, n) if y.ndim < 2 else y
    if y.ndim != 2 or y.shape[1] != n:
        raise ValueError(
            f"{name} was fitted on {n} target column(s); y has shape {y.shape}."
        )
    if not np.isfinite(y).all():
        raise ValueError(f"{name}: y holds NaN or infinite targets.")
    return (y - estimator.y_mean_) / estimator.y_scale_


def _class_index(classes, y, name):
    """Positions of the labels ``y`` in ``classes``; unseen ones refused by name."""
    if classes.dtype == object:
        y = y.astype(object)
    try:
        index = np.searchsorted(classes, y)
    except TypeError:
        index = None
    found = index is not None and np.all(index < len(classes))
    if found:
        found = bool(np.all(classes[np.minimum(index, len(classes) - 1)] == y))
    if not found:
        known = set(classes.tolist())
        unknown = [v for v in dict.fromkeys(y.tolist()) if v not in known]
        shown = ", ".join(repr(v)[:40] for v in unknown[:5])
        raise ValueError(
            f"{name}: y holds labels not seen in fit ({shown}); the known "
            f"classes are {classes.tolist()[:20]}."
        )
    return index


def target_rows(estimator, y, n_rows):
    """Targets ``y`` given to ``sample`` or ``inverse_transform``, one per
    row: a single target (a label, or one value per target column) is
    repeated ``n_rows`` times; otherwise there must be ``n_rows`` of them.
    ``n_rows`` None: as many rows as targets. Returns (condition, n_rows)."""
    name = type(estimator).__name__
    single = np.ndim(y) == 0 or (
        not hasattr(estimator, "classes_")
        and estimator.n_conditions_ > 1
        and np.ndim(y) == 1
    )
    if single:
        condition = encode_targets(estimator, np.asarray([y]))
        n = 1 if n_rows is None else n_rows
        return np.repeat(condition, n, axis=0), n
    condition = encode_targets(estimator, y)
    if n_rows is not None and len(condition) != n_rows:
        raise ValueError(
            f"{name}: y must be one target or one per row ({n_rows}), got "
            f"{len(condition)}."
        )
    return condition, len(condition)
