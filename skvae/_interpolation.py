"""Paths between two points of the latent space, for ``interpolate``.

Plain NumPy on arrays of latent points, broadcast over the positions ``t``
along each path.
"""

import numpy as np

__all__ = ["PATHS"]


def _linear_path(start, end, t):
    """Points ``(1 - t) * start + t * end``, broadcast over t."""
    return (1 - t) * start + t * end


def _spherical_path(start, end, t):
    """Slerp of the directions with a linear change of norm, broadcast over t.

    Where a direction is undefined (a zero vector) or the two directions are
    (anti)parallel, the great circle is not unique and the straight line is
    used instead.
    """
    norm_start = np.linalg.norm(start, axis=-1, keepdims=True)
    norm_end = np.linalg.norm(end, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        u, v = start / norm_start, end / norm_end
        omega = np.arccos(np.clip(np.sum(u * v, axis=-1, keepdims=True), -1, 1))
        sin = np.sin(omega)
        direction = (np.sin((1 - t) * omega) * u + np.sin(t * omega) * v) / sin
        path = ((1 - t) * norm_start + t * norm_end) * direction
    degenerate = (sin < 1e-6) | (norm_start == 0) | (norm_end == 0)
    return np.where(degenerate, _linear_path(start, end, t), path)


PATHS = {"linear": _linear_path, "spherical": _spherical_path}
