"""Comparable snapshots of an estimator's state, tensors and optimizers included.

Used by the tests of refused calls: ``_snap(dict(vars(est)))`` before the call
and after must be ``_equal``, weights bit for bit.
"""

import copy

import numpy as np
import torch


def _snap(value):
    """A comparable copy of ``value``: tensors, arrays, estimators, optimizers."""
    if isinstance(value, torch.Tensor):
        return ("tensor", value.detach().clone())
    if isinstance(value, np.ndarray):
        return ("array", value.copy())
    if isinstance(value, torch.optim.Optimizer):
        return ("optimizer", _snap(value.state_dict()))
    if isinstance(value, torch.nn.Module):
        return ("module", id(value), _snap(value.state_dict()))
    if isinstance(value, np.random.RandomState):
        return ("rng", _snap(list(value.get_state())))
    if isinstance(value, dict):
        return ("dict", {k: _snap(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_snap(v) for v in value])
    if type(value).__module__.startswith("pandas"):  # caches inside: identity
        return ("id", (id(value), repr(value)))
    if hasattr(value, "__dict__") and not isinstance(value, type):
        return ("object", type(value), id(value), _snap(dict(vars(value))))
    try:
        return ("value", copy.deepcopy(value))
    except TypeError:  # e.g. compiled objects inside pandas dtypes: identity
        return ("id", id(value))


def _equal(a, b):
    if a[0] != b[0]:
        return False
    kind = a[0]
    if kind == "tensor":
        return a[1].dtype == b[1].dtype and torch.equal(a[1], b[1])
    if kind == "array":
        nan = a[1].dtype.kind in "fc"
        return a[1].dtype == b[1].dtype and np.array_equal(a[1], b[1], equal_nan=nan)
    if kind == "module":
        return a[1] == b[1] and _equal(a[2], b[2])
    if kind in ("optimizer", "rng"):
        return _equal(a[1], b[1])
    if kind == "dict":
        return a[1].keys() == b[1].keys() and all(
            _equal(a[1][k], b[1][k]) for k in a[1]
        )
    if kind in ("list", "tuple"):
        return len(a[1]) == len(b[1]) and all(map(_equal, a[1], b[1]))
    if kind == "id":
        return a[1] == b[1]
    if kind == "object":
        return a[1:3] == b[1:3] and _equal(a[3], b[3])
    if isinstance(a[1], float) and isinstance(b[1], float):
        return a[1] == b[1] or (np.isnan(a[1]) and np.isnan(b[1]))
    return type(a[1]) is type(b[1]) and a[1] == b[1]


def assert_same_state(before, estimator, where=""):
    """``estimator``'s state equals the snapshot ``before``, key by key."""
    after = _snap(dict(vars(estimator)))
    assert before[1].keys() == after[1].keys(), where
    for key in before[1]:
        assert _equal(before[1][key], after[1][key]), f"{where}: {key} changed"
