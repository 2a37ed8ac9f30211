"""Edges between NumPy, scikit-learn conventions and torch: devices, RNGs, arrays."""

import copy
import os
import warnings
import weakref

import numpy as np
import torch
from scipy.special import ndtri

from ._parallel import _process_group_backend

__all__ = [
    "resolve_device",
    "make_generator",
    "as_tensor",
    "to_numpy",
    "row_normal_noise",
    "converted_module",
    "state_dict_to_cpu",
]


def resolve_device(device):
    """Turn ``"auto"``, a device string or a ``torch.device`` into a usable device.

    Inside a ``torch.distributed`` process group of several processes,
    ``"auto"`` means this process's GPU, ``cuda:LOCAL_RANK``, when the backend
    is NCCL and CUDA is available, and the CPU otherwise (gloo, MPI); a bare
    ``"cuda"`` means ``cuda:LOCAL_RANK`` too, so that processes sharing a
    machine do not all train on its first GPU.

    Raises
    ------
    ValueError
        If the string names no device, or a CUDA device is asked for on a
        machine without one.
    """
    backend = _process_group_backend()
    if isinstance(device, str) and device == "auto":
        if not torch.cuda.is_available() or (
            backend is not None and "nccl" not in backend
        ):
            return torch.device("cpu")
        device = "cuda"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a valid torch device: {exc}"
        ) from None
    if device.type == "meta":
        raise ValueError(
            "device='meta' holds no data, so a model cannot be trained or used "
            "on it; use device='cpu', 'cuda' or 'auto'."
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but CUDA is not available; "
            "use device='cpu' or device='auto'."
        )
    if device.type == "cuda" and device.index is None and backend is not None:
        local_rank = os.environ.get("LOCAL_RANK")
        index = torch.cuda.current_device() if local_rank is None else int(local_rank)
        device = torch.device("cuda", index)
    return device


def fits_on_device(device, n_bytes, share=0.5):
    """Whether ``n_bytes`` take less than ``share`` of the free memory of a GPU."""
    free, _ = torch.cuda.mem_get_info(device)
    return n_bytes < share * free


def make_generator(seed, device="cpu"):
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def as_tensor(X, device, dtype=None):
    """A tensor view of the array ``X`` (no copy when dtype and device allow it)."""
    X = np.asarray(X)
    if not X.dtype.isnative or any(stride < 0 for stride in X.strides):
        # torch refuses both (big-endian DataFrame columns, X[::-1]); a copy has
        # fresh strides, where ascontiguousarray keeps a single row's negative one.
        X = X.astype(X.dtype.newbyteorder("="), order="C")
    if X.flags.writeable:
        tensor = torch.from_numpy(X)
    else:
        with warnings.catch_warnings():
            # Read-only arrays (memmaps, shared buffers) are never written to.
            warnings.filterwarnings("ignore", message="The given NumPy array is not")
            tensor = torch.from_numpy(X)
    return tensor.to(device=device, dtype=dtype)


def to_numpy(tensor):
    """A NumPy array on the host from any tensor."""
    return tensor.detach().cpu().numpy()


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _splitmix64(x):
    """The SplitMix64 finaliser, element-wise on uint64 arrays (wrapping)."""
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _MIX1
    x = (x ^ (x >> np.uint64(27))) * _MIX2
    return x ^ (x >> np.uint64(31))


def row_normal_noise(X, shape, salt=0, offset=0):
    """Standard normal noise that depends on each row's values alone.

    Row ``i`` of the result is a deterministic function of ``X[i]`` (its values
    seen as float64), of ``shape`` and of ``salt``: the same row gets the same
    noise whatever batch it comes in and wherever it stands, yet different
    rows get independent-looking noise. This makes Monte Carlo estimates such
    as ``score_samples`` reproducible and invariant to batching.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    shape : tuple of int
        Shape of the noise for one row.
    salt : int
        Mixed into every row's seed, to get another independent stream.
    offset : int, default=0
        Position in the row's stream of the first value returned. Each row
        has one endless stream of values; a call returns the next
        ``prod(shape)`` of them from ``offset`` on, so long runs of draws can
        be generated in chunks with the same result as all at once.

    Returns
    -------
    noise : ndarray of shape (n_rows, *shape), float64
    """
    X = np.asarray(X, dtype=np.float64)
    X = X + 0.0  # -0.0 and 0.0 hash alike
    words = np.ascontiguousarray(X).view(np.uint64)
    keys = _splitmix64(np.arange(X.shape[1], dtype=np.uint64) + np.uint64(salt))
    with np.errstate(over="ignore"):
        seeds = _splitmix64(_splitmix64(words ^ keys).sum(axis=1, dtype=np.uint64))
    n_draws = int(np.prod(shape))
    counters = np.arange(offset + 1, offset + n_draws + 1, dtype=np.uint64) * _GOLDEN
    bits = _splitmix64(seeds[:, None] ^ counters)
    uniform = ((bits >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    return ndtri(uniform).reshape(X.shape[0], *shape)


# Converted copies of fitted modules, so that float64 inference does not copy
# the weights on every call. Keyed weakly by the module (the estimator's
# __dict__ stays untouched) and refreshed when any parameter changes.
_CONVERTED = weakref.WeakKeyDictionary()


def converted_module(module, dtype):
    """A copy of ``module`` in ``dtype``, cached until its parameters change."""
    cached = _CONVERTED.get(module, {}).get(dtype)
    if cached is not None:
        params, version, converted = cached
        if version == [(p.data_ptr(), p._version) for p in params]:
            return converted
    params = list(module.parameters())
    version = [(p.data_ptr(), p._version) for p in params]
    converted = copy.deepcopy(module).to(dtype)
    _CONVERTED.setdefault(module, {})[dtype] = (params, version, converted)
    return converted


def state_dict_to_cpu(obj):
    """A copy of a nested state dict with every tensor on the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: state_dict_to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(state_dict_to_cpu(v) for v in obj)
    return obj
