"""Checked array arguments of the engine's pure rule modules: a bad argument (NaN/inf,
a negative quantity, a wrong shape) raises ValueError naming the argument and the value."""

from __future__ import annotations

import numpy as np


def real_array(name: str, values, *, nonneg=False, positive=False, ndim=None) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, got {arr[~np.isfinite(arr)][0]}")
    if nonneg and (arr < 0).any():
        raise ValueError(f"{name} must be >= 0, got {arr[arr < 0][0]}")
    if positive and (arr <= 0).any():
        raise ValueError(f"{name} must be > 0, got {arr[arr <= 0][0]}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def same_shape(**arrays: np.ndarray) -> None:
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"shapes do not match: {shapes}")


def broadcast(**arrays: np.ndarray) -> list[np.ndarray]:
    try:
        return np.broadcast_arrays(*arrays.values())
    except ValueError:
        shapes = {name: arr.shape for name, arr in arrays.items()}
        raise ValueError(f"shapes do not match: {shapes}") from None


def scalar(name: str, value: float, *, integral: bool = False) -> float | int:
    arr = real_array(name, value, nonneg=True, ndim=0)
    if not integral:
        return float(arr)
    if not float(arr).is_integer():
        raise ValueError(f"{name} must be a whole number of lots (int quantities), got {value}")
    return int(arr)
